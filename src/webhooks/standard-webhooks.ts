/**
 * Standard Webhooks (https://www.standardwebhooks.com) signing and verification
 * with WebCrypto, over the raw body bytes.
 *
 * Why not the `standardwebhooks` package here: it signs and verifies strings
 * (raw bytes that are not valid UTF-8 would be altered before hashing), reads
 * `Date.now()` itself (no clock to pin a test vector), hard-codes the tolerance,
 * and hashes in JavaScript. `crypto.subtle.verify` is native and compares in
 * constant time. The package stays a devDependency: the tests use it to prove
 * that what terapi sends and accepts interoperates with the reference library.
 */
import { base64ToBytes, bytesToBase64 } from "../crypto/base64";
import { hmacKey } from "./hmac-keys";

const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();

type StandardWebhookHeaders = { id: string | null; timestamp: string | null; signature: string | null };

type VerifyInput = {
  secret: string;
  headers: StandardWebhookHeaders;
  body: Uint8Array;
  toleranceSeconds: number;
  /** Injectable clock (epoch milliseconds), so fixed test vectors verify. */
  now?: number;
};

type VerifyFailure = "missing_headers" | "invalid_timestamp" | "timestamp_too_old" | "timestamp_too_new" | "no_matching_signature";
type VerifyResult = { ok: true; id: string; timestamp: number } | { ok: false; reason: VerifyFailure };

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries). */
function decodeWebhookSecret(secret: string): Uint8Array<ArrayBuffer> {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = base64ToBytes(b64);
  if (bytes.length === 0) throw new Error("Webhook secret is empty");
  return bytes;
}

/** A new `whsec_` secret: 32 random bytes (Standard Webhooks asks for 24 to 64). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/** `id.timestamp.` followed by the body bytes, unchanged. */
function signedContent(id: string, timestamp: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/** The HMAC key of a `whsec_` secret, imported once per isolate (src/webhooks/hmac-keys.ts). */
const importKey = (secret: string): Promise<CryptoKey> => hmacKey(`whsec:${secret}`, () => decodeWebhookSecret(secret));

/** `v1,<base64 HMAC-SHA256>` of one message. */
export async function signStandardWebhook(secret: string, id: string, timestamp: number, body: Uint8Array | string): Promise<string> {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const key = await importKey(secret);
  const mac = await crypto.subtle.sign("HMAC", key, signedContent(id, timestamp, bytes));
  return `v1,${bytesToBase64(new Uint8Array(mac))}`;
}

/**
 * Verifies one inbound message. The timestamp is checked first (a stale message
 * fails even if the signature is right), then every `v1,` signature in the
 * space-separated header; unknown versions are skipped.
 */
export async function verifyStandardWebhook(input: VerifyInput): Promise<VerifyResult> {
  const { id, timestamp: rawTimestamp, signature } = input.headers;
  if (!id || !rawTimestamp || !signature) return { ok: false, reason: "missing_headers" };
  if (!/^\d{1,12}$/.test(rawTimestamp.trim())) return { ok: false, reason: "invalid_timestamp" };
  const timestamp = Number(rawTimestamp.trim());
  const nowSeconds = Math.floor((input.now ?? Date.now()) / 1000);
  if (nowSeconds - timestamp > input.toleranceSeconds) return { ok: false, reason: "timestamp_too_old" };
  if (timestamp - nowSeconds > input.toleranceSeconds) return { ok: false, reason: "timestamp_too_new" };

  const key = await importKey(input.secret);
  const content = signedContent(id, timestamp, input.body);
  for (const versioned of signature.split(" ")) {
    const [version, b64] = versioned.split(",", 2);
    if (version !== "v1" || !b64) continue;
    let mac: Uint8Array<ArrayBuffer>;
    try {
      mac = base64ToBytes(b64);
    } catch {
      continue;
    }
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", key, mac, content)) return { ok: true, id, timestamp };
  }
  return { ok: false, reason: "no_matching_signature" };
}
