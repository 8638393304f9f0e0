import type { TopConnection } from "./usage-charts";

/**
 * The overview's top connections, kept per isolate in a large environment.
 * Ranking them reads every connection and model with usage in the last 30
 * days (two index lookups each, src/dashboard/usage-data.ts): a few ms for a
 * few hundred connections, tens of ms of D1 time at 10,000. So once at least
 * `TOP_CACHE_FROM` connections are ranked, a list is shown for `TOP_FRESH_MS`
 * without ranking again; after that it is still shown (for up to
 * `TOP_STALE_MS`) while one ranking runs after the response. Staleness: at
 * most 60 s behind the index, 10 min while a refresh runs; a smaller
 * environment is ranked afresh for every view.
 *
 * Settled values only are shared: a pending ranking awaited by another
 * request would die with the request that started it (workerd cancels its
 * continuations), so concurrent misses each rank, and the newest answer is kept.
 */
export const TOP_FRESH_MS = 60_000;
const TOP_STALE_MS = 10 * 60_000;
export const TOP_CACHE_FROM = 1_000;

/** A ranking and how many connections it ranked (had usage in the window). */
export type Ranked = { top: TopConnection[]; ranked: number };

let kept: { key: string; at: number; value: Ranked } | null = null;
/** When the running background refresh started (another starts only after TOP_FRESH_MS, should one never end). */
let refreshing: number | null = null;

async function rank(key: string, now: number, compute: () => Promise<Ranked>): Promise<Ranked> {
  const value = await compute();
  if (value.ranked < TOP_CACHE_FROM) {
    if (kept?.key === key) kept = null;
  } else if (!(kept?.key === key && kept.at > now)) kept = { key, at: now, value };
  return value;
}

/**
 * The top list for `key` (the window and the prices it was ranked with):
 * kept when fresh, the stale one while `background` runs its refresh,
 * otherwise ranked now.
 */
export async function cachedTop(key: string, now: number, compute: () => Promise<Ranked>, background: (p: Promise<unknown>) => void): Promise<TopConnection[]> {
  const k = kept?.key === key ? kept : null;
  if (k && now - k.at < TOP_FRESH_MS) return k.value.top;
  if (k && now - k.at < TOP_STALE_MS) {
    if (refreshing === null || now - refreshing >= TOP_FRESH_MS) {
      refreshing = now;
      background(
        rank(key, now, compute)
          .catch(() => undefined)
          .finally(() => (refreshing = null)),
      );
    }
    return k.value.top;
  }
  return (await rank(key, now, compute)).top;
}
