import type { ConnectionSecret } from "../store/connection-secret";

type Loader = (env: Env, providerConfigKey: string, connectionId: string) => Promise<ConnectionSecret | null>;

type Entry = { expiresAt: number; value: Promise<ConnectionSecret | null> };

export type ConnectionCacheOptions = {
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
 * insertion order), short-lived, and concurrent lookups share one load.
 */
export function createConnectionCache(load: Loader, opts: ConnectionCacheOptions = {}) {
  const ttlMs = opts.ttlMs ?? 15_000;
  const missTtlMs = opts.missTtlMs ?? 2_000;
  const maxEntries = opts.maxEntries ?? 1_000;
  const now = opts.now ?? (() => Date.now());
  const entries = new Map<string, Entry>();
  const keyOf = (pck: string, id: string) => `${pck}\u0000${id}`;

  function get(env: Env, providerConfigKey: string, connectionId: string): Promise<ConnectionSecret | null> {
    const key = keyOf(providerConfigKey, connectionId);
    const hit = entries.get(key);
    if (hit && hit.expiresAt > now()) return hit.value;
    if (hit) entries.delete(key);
    const entry: Entry = { expiresAt: now() + ttlMs, value: load(env, providerConfigKey, connectionId) };
    entries.set(key, entry);
    entry.value.then(
      (secret) => {
        if (secret === null) entry.expiresAt = Math.min(entry.expiresAt, now() + missTtlMs);
      },
      // A failed load (KV hiccup, undecryptable value) is not remembered.
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
    return entry.value;
  }

  /** Forget a connection now (e.g. the provider answered 401: the key was probably rotated). */
  function evict(providerConfigKey: string, connectionId: string): void {
    entries.delete(keyOf(providerConfigKey, connectionId));
  }

  function clear(): void {
    entries.clear();
  }

  return { get, evict, clear };
}

export type ConnectionCache = ReturnType<typeof createConnectionCache>;
