import { bytesToHex } from "../crypto/hex";

/** Connect links last this long. */
export const CONNECT_SESSION_TTL_MS = 30 * 60 * 1000;

const toBase64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** 32 random bytes, base64url: the only copy leaves in the response; the registry keeps its hash. */
export function newSessionToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** SHA-256, hex. A token is random enough that no salt or slow hash is needed. */
export async function hashSessionToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return bytesToHex(new Uint8Array(digest));
}

/** Cheap shape check before any lookup: forged junk never reaches the registry. */
export const looksLikeToken = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);
