import type { TopConnection } from "./usage-charts";

/**
 * The overview's top connections, kept per isolate in a large environment.
 * Ranking them sums every connection's days of the last 30 in D1: a few ms for
 * a few hundred connections, but O(connections × days × models) rows — about
 * 600,000 at 10,000 connections with a month of history, seconds of D1 time
 * per view. So once at least `TOP_CACHE_FROM` connections are ranked, a list
 * is shown for `TOP_FRESH_MS` without recomputing it; after that it is still
 * shown (for up to `TOP_STALE_MS`) while one recomputation runs in the
 * background. Staleness: at most 60 s behind the index, 10 min while a
 * refresh runs; a smaller environment is ranked afresh for every view.
 */
export const TOP_FRESH_MS = 60_000;
const TOP_STALE_MS = 10 * 60_000;
export const TOP_CACHE_FROM = 1_000;

/** A ranking and how many connections it ranked (had usage in the window). */
export type Ranked = { top: TopConnection[]; ranked: number };

type Entry = { key: string; at: number; value: Ranked | null; pending: Promise<Ranked> | null };
let entry: Entry | null = null;

function refresh(key: string, now: number, compute: () => Promise<Ranked>): Promise<Ranked> {
  const kept = entry?.key === key ? entry : null;
  const pending = compute().then(
    (value) => {
      if (entry?.pending === pending) entry = value.ranked >= TOP_CACHE_FROM ? { key, at: now, value, pending: null } : null;
      return value;
    },
    (err: unknown) => {
      if (entry?.pending === pending) entry = kept?.value ? { ...kept, pending: null } : null;
      throw err;
    },
  );
  entry = { key, at: kept?.at ?? 0, value: kept?.value ?? null, pending };
  return pending;
}

/**
 * The top list for `key` (the window and the prices it was ranked with):
 * cached when fresh, the stale one while `background` runs its refresh,
 * otherwise computed now (one computation at a time per isolate).
 */
export async function cachedTop(key: string, now: number, compute: () => Promise<Ranked>, background: (p: Promise<unknown>) => void): Promise<TopConnection[]> {
  const e = entry?.key === key ? entry : null;
  if (e?.value && now - e.at < TOP_FRESH_MS) return e.value.top;
  if (e?.value && now - e.at < TOP_STALE_MS) {
    if (!e.pending) background(refresh(key, now, compute).catch(() => undefined));
    return e.value.top;
  }
  return (await (e?.pending ?? refresh(key, now, compute))).top;
}
