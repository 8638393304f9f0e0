import { loadConnectionSecret, type ConnectionSecret } from "../store/connection-secret";
import { connectionKey } from "../lib/connection-key";

type Loader = (env: Env, providerConfigKey: string, connectionId: string) => Promise<ConnectionSecret | null>;

/** A settled answer only: never a load still in progress (see `get`). */
type Entry = { expiresAt: number; value: ConnectionSecret | null };

type ConnectionCacheOptions = {
  /** How long a found connection is reused: a deleted or rotated key stops being used within this bound. */
  ttlMs?: number;
  /** How long "no such connection" is remembered (cheap 404s without hammering KV). */
  missTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
};

/**
 * Isolate-level cache in front of the KV read + decrypt, so the hot path does
 * not touch KV on every request. Bounded (oldest first out, a Map keeps
 * insertion order) and short-lived.
 *
 * It holds settled values only. A load in progress belongs to the request that
 * started it: in workerd, another request awaiting that promise has its
 * continuation cancelled when the first request ends or is cancelled ("a
 * promise was resolved or rejected from a different request context"), and
 * answers a bare 500. So concurrent misses each do their own load (one KV read
 * each, once per TTL), and the first to finish fills the cache.
 */
export function createConnectionCache(load: Loader, opts: ConnectionCacheOptions = {}) {
  const ttlMs = opts.ttlMs ?? 15_000;
  const missTtlMs = opts.missTtlMs ?? 2_000;
  const maxEntries = opts.maxEntries ?? 1_000;
  const now = opts.now ?? (() => Date.now());
  const entries = new Map<string, Entry>();
  // Bumped by evict/clear: a load that started before them must not write back what it read.
  let epoch = 0;

  /** The settled answer while it is fresh, without a promise (the hot path's common case); undefined when `get` must load. */
  function cached(providerConfigKey: string, connectionId: string): ConnectionSecret | null | undefined {
    const hit = entries.get(connectionKey(providerConfigKey, connectionId));
    return hit && hit.expiresAt > now() ? hit.value : undefined;
  }

  async function get(env: Env, providerConfigKey: string, connectionId: string): Promise<ConnectionSecret | null> {
    const key = connectionKey(providerConfigKey, connectionId);
    const hit = entries.get(key);
    if (hit && hit.expiresAt > now()) return hit.value;
    // A failed load (KV hiccup, undecryptable value) throws to its own caller and is not remembered.
    const started = epoch;
    const value = await load(env, providerConfigKey, connectionId);
    if (started === epoch) {
      entries.delete(key); // re-inserted last: the Map's order stays oldest first
      entries.set(key, { expiresAt: now() + (value === null ? missTtlMs : ttlMs), value });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    }
    return value;
  }

  /**
   * Forget a connection now: it was created (a remembered miss must not hide
   * it), rotated or deleted, or the provider answered 401.
   */
  function evict(providerConfigKey: string, connectionId: string): void {
    epoch++;
    entries.delete(connectionKey(providerConfigKey, connectionId));
  }

  function clear(): void {
    epoch++;
    entries.clear();
  }

  return { cached, get, evict, clear };
}

/**
 * The isolate's one cache of decrypted connections, shared by every part that
 * needs a connection's key or settings (proxy, actions, inbound webhooks,
 * usage, connection lifecycle): a change made through this isolate applies at
 * once, within the TTL in other isolates.
 */
export const connectionCache = createConnectionCache(loadConnectionSecret);
