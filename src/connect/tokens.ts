import { bytesToBase64Url } from "../crypto/base64";
import { sha256Hex } from "../crypto/sha256";

/** Connect links last this long. */
export const CONNECT_SESSION_TTL_MS = 30 * 60 * 1000;

/** 32 random bytes, base64url: the only copy leaves in the response; the registry keeps its hash. */
export function newSessionToken(): string {
  return bytesToBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** SHA-256, hex. A token is random enough that no salt or slow hash is needed. */
export const hashSessionToken = (token: string): Promise<string> => sha256Hex(token);

/** Cheap shape check before any lookup: forged junk never reaches the registry. */
export const looksLikeToken = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);
