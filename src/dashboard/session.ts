import { base64UrlToBytes, bytesToBase64Url } from "../crypto/base64";
import { registryClient } from "../bindings/registry-client";
import { parseSecretKeys } from "../middleware/secret-key-auth";

/**
 * The dashboard's login cookie: `<expiry>.<session id>.<HMAC-SHA256(secret key, expiry|id)>`.
 * Signed with a configured secret key, so removing that key (rotation) ends its
 * sessions, and the cookie never holds the key itself; the id must also still
 * be live in the registry, so logging out ends the session at once.
 */
export const DASHBOARD_COOKIE = "terapi_dashboard";
export const DASHBOARD_SESSION_MS = 8 * 60 * 60 * 1000;

const encoder = new TextEncoder();

function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    return base64UrlToBytes(s);
  } catch {
    return null;
  }
}

const hmacKey = (secret: string) => crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
const message = (expiresAt: number, sid: string) => encoder.encode(`terapi-dashboard-v2|${expiresAt}|${sid}`);
const COOKIE = /^(\d{13})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** A cookie value for a secret key the caller has already checked; the session is live from now. */
export async function issueDashboardSession(env: Env, secretKey: string, now = Date.now()): Promise<string> {
  const expiresAt = now + DASHBOARD_SESSION_MS;
  const sid = bytesToBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  await registryClient(env).startDashboardSession(sid, expiresAt);
  return `${expiresAt}.${sid}.${bytesToBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secretKey), message(expiresAt, sid))))}`;
}

/** The session id of a cookie signed by one of the configured keys and unexpired (constant-time verify); null otherwise. */
async function signedSession(env: Env, value: string | undefined, now: number): Promise<string | null> {
  const m = value ? COOKIE.exec(value) : null;
  if (!m) return null;
  // Every group of COOKIE is mandatory: a match has all three.
  const expiresAt = Number(m[1]);
  const sid = m[2]!;
  const sig = fromB64url(m[3]!);
  if (!sig || expiresAt <= now || expiresAt > now + DASHBOARD_SESSION_MS) return null;
  let ok = false;
  for (const key of parseSecretKeys(env.TERAPI_SECRET_KEY)) if (await crypto.subtle.verify("HMAC", await hmacKey(key), sig, message(expiresAt, sid))) ok = true;
  return ok ? sid : null;
}

/** Signed, unexpired, and not logged out. */
export async function verifyDashboardSession(env: Env, value: string | undefined, now = Date.now()): Promise<boolean> {
  const sid = await signedSession(env, value, now);
  return sid !== null && (await registryClient(env).dashboardSessionActive(sid));
}

/** Logging out: the session ends for every copy of the cookie. */
export async function revokeDashboardSession(env: Env, value: string | undefined, now = Date.now()): Promise<void> {
  const sid = await signedSession(env, value, now);
  if (sid !== null) await registryClient(env).endDashboardSession(sid);
}
