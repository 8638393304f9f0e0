import { ApiError } from "../errors";
import { base64ToBytes } from "./base64";
import { sha256Hex } from "./sha256";

/** One master key: its id (stored next to every value it encrypts) and the imported AES-GCM key. */
export type MasterKey = { kid: string; key: CryptoKey };

/** The first key encrypts; every key decrypts (rotation keeps old values readable). */
export type KeyRing = { current: MasterKey; byKid: ReadonlyMap<string, MasterKey> };

const KID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY_BYTES = 32;

/** The key ring is missing or malformed. The message names the entry, never its material. */
export class KeyRingError extends ApiError<"encryption_not_configured"> {
  constructor(message: string) {
    super(500, "encryption_not_configured", `TERAPI_ENCRYPTION_KEY ${message}`);
    this.name = "KeyRingError";
  }
}

const defaultKid = async (raw: Uint8Array<ArrayBuffer>) => (await sha256Hex(raw)).slice(0, 8);

async function parseEntry(entry: string, position: number): Promise<MasterKey> {
  const colon = entry.indexOf(":");
  const kid = colon === -1 ? undefined : entry.slice(0, colon).trim();
  const encoded = (colon === -1 ? entry : entry.slice(colon + 1)).trim();
  if (kid !== undefined && !KID_PATTERN.test(kid)) throw new KeyRingError(`entry ${position}: key id must match ${KID_PATTERN.source}`);
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = base64ToBytes(encoded);
  } catch {
    throw new KeyRingError(`entry ${position}: key is not valid base64`);
  }
  if (raw.length !== KEY_BYTES) throw new KeyRingError(`entry ${position}: key must be ${KEY_BYTES} bytes of base64, got ${raw.length}`);
  const key = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { kid: kid ?? (await defaultKid(raw)), key };
}

/** Parses `kid:base64,…` (a bare base64 entry gets the first 8 hex chars of its SHA-256 as kid). */
export async function parseKeyRing(value: string | undefined): Promise<KeyRing> {
  const entries = (value ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const keys = await Promise.all(entries.map((e, i) => parseEntry(e, i + 1)));
  const current = keys[0];
  if (current === undefined) throw new KeyRingError("is not set: expected kid:base64(32 bytes)[,…]");
  const byKid = new Map<string, MasterKey>();
  for (const k of keys) {
    if (byKid.has(k.kid)) throw new KeyRingError(`names key id '${k.kid}' twice`);
    byKid.set(k.kid, k);
  }
  return { current, byKid };
}

// Importing keys costs a few WebCrypto calls: do it once per isolate per key-ring
// string. A handful of entries covers rotation (and tests with a modified env).
const MAX_CACHED_RINGS = 4;
const cache = new Map<string, Promise<KeyRing>>();

/** The key ring of this environment, imported once per isolate. */
export function keyRing(env: Pick<Env, "TERAPI_ENCRYPTION_KEY">): Promise<KeyRing> {
  const value = env.TERAPI_ENCRYPTION_KEY ?? "";
  let ring = cache.get(value);
  if (!ring) {
    ring = parseKeyRing(value);
    // A malformed ring is not cached, so fixing the secret takes effect without a restart.
    ring.catch(() => cache.delete(value));
    if (cache.size >= MAX_CACHED_RINGS) cache.delete(cache.keys().next().value as string);
    cache.set(value, ring);
  }
  return ring;
}
