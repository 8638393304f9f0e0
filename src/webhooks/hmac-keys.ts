/**
 * HMAC-SHA256 keys imported once per isolate and secret, not once per message:
 * every inbound webhook is verified and every attempt signed (twice: Standard
 * Webhooks and Nango's header) with a secret that rarely changes, and
 * `importKey` was a fixed cost of each. Settled keys only (a pending import
 * belongs to the request that started it: workerd cancels its continuation
 * when that request ends), so two first uses at once each import, and the
 * first to finish is kept. Bounded: the oldest key goes first.
 */
const MAX_KEYS = 4_096;

const keys = new Map<string, CryptoKey>();

/** The key for `bytes`, cached under `id` (a secret as written: the map lives in the isolate's memory like the secret itself). */
export async function hmacKey(id: string, bytes: () => BufferSource): Promise<CryptoKey> {
  const hit = keys.get(id);
  if (hit) return hit;
  const key = await crypto.subtle.importKey("raw", bytes(), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  keys.set(id, key);
  if (keys.size > MAX_KEYS) {
    const oldest = keys.keys().next().value;
    if (oldest !== undefined) keys.delete(oldest);
  }
  return key;
}
