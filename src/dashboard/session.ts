import { parseSecretKeys } from "../middleware/secret-key-auth";

/**
 * The dashboard's login cookie: `<expiry>.<HMAC-SHA256(secret key, expiry)>`.
 * Derived from a configured secret key, so removing that key (rotation) ends
 * its sessions, and the cookie never holds the key itself.
 */
export const DASHBOARD_COOKIE = "terapi_dashboard";
export const DASHBOARD_SESSION_MS = 8 * 60 * 60 * 1000;

const encoder = new TextEncoder();
const b64url = (buf: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function fromB64url(s: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

const hmacKey = (secret: string) =>
  crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
const message = (expiresAt: number) => encoder.encode(`terapi-dashboard-v1|${expiresAt}`);

/** A cookie value for a secret key the caller has already checked. */
export async function issueDashboardSession(secretKey: string, now = Date.now()): Promise<string> {
  const expiresAt = now + DASHBOARD_SESSION_MS;
  return `${expiresAt}.${b64url(await crypto.subtle.sign("HMAC", await hmacKey(secretKey), message(expiresAt)))}`;
}

/** Valid while unexpired and signed by one of the configured keys (constant-time verify). */
export async function verifyDashboardSession(env: Env, value: string | undefined, now = Date.now()): Promise<boolean> {
  const m = value ? /^(\d{13})\.([A-Za-z0-9_-]{43})$/.exec(value) : null;
  if (!m) return false;
  const expiresAt = Number(m[1]);
  const sig = fromB64url(m[2]);
  if (!sig || expiresAt <= now || expiresAt > now + DASHBOARD_SESSION_MS) return false;
  let ok = false;
  for (const key of parseSecretKeys(env.TERAPI_SECRET_KEY))
    if (await crypto.subtle.verify("HMAC", await hmacKey(key), sig, message(expiresAt))) ok = true;
  return ok;
}
