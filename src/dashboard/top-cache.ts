import type { TopConnection } from "./usage-charts";

/**
 * The overview's top connections in a large environment, kept in D1 for every
 * isolate (usage_top, migrations/0005_usage_top.sql) and per isolate in front
 * of it. Ranking them reads every connection and model with usage in the last
 * 30 days (two index lookups each, src/dashboard/usage-data.ts): a few ms for
 * a few hundred connections, tens to hundreds of ms of D1 time at 10,000. So
 * once at least `TOP_CACHE_FROM` connections are ranked, whoever ranks stores
 * the list; a view shows the newest list it has (its isolate's, or the stored
 * one, read only when its isolate has none fresh) for `TOP_FRESH_MS` without
 * ranking again; after that it is still shown while one ranking per isolate
 * runs after the response and stores its result. A view ranks synchronously
 * only when there is no list at all for its window and prices (a new
 * environment, the first view of a day, changed prices).
 * Staleness: while the dashboard is viewed, at most 60 s behind the index
 * plus one refresh; the first view after a quiet spell shows the last list
 * ranked for the same 30-day window (the same day, so at most a day old) and
 * starts the refresh the views after it show. A smaller environment is ranked
 * afresh for every view.
 *
 * Settled values only are shared: a pending ranking awaited by another
 * request would die with the request that started it (workerd cancels its
 * continuations), so concurrent misses each rank, and the newest answer is kept.
 */
export const TOP_FRESH_MS = 60_000;
export const TOP_CACHE_FROM = 1_000;

/** A ranking and how many connections it ranked (had usage in the window). */
export type Ranked = { top: TopConnection[]; ranked: number };
/** A ranking for `key` (the window and the prices it was ranked with), made at `at`. */
export type KeptTop = { key: string; at: number; value: Ranked };

/** Where rankings are shared between isolates: the stored one (read already started, or null when not needed) and how to store one. */
export type SharedTop = { stored: Promise<KeptTop | null> | null; store: (t: KeptTop) => Promise<unknown> };

let kept: KeptTop | null = null;
/** When the running background refresh started (another starts only after TOP_FRESH_MS, should one never end). */
let refreshing: number | null = null;

/** Whether this isolate has a fresh list (for any key): then the stored one need not be read. */
export function keptFresh(now: number): boolean {
  return kept !== null && now - kept.at < TOP_FRESH_MS;
}

/** Test hook: this isolate forgets its list, as a fresh isolate has none. */
export function forgetKeptTop(): void {
  kept = null;
  refreshing = null;
}

const large = (t: KeptTop) => t.value.ranked >= TOP_CACHE_FROM;

/** Ranks now; keeps a large environment's list in this isolate (unless a later one is kept). */
async function rank(key: string, now: number, compute: () => Promise<Ranked>): Promise<KeptTop> {
  const t = { key, at: now, value: await compute() };
  if (!large(t)) {
    if (kept?.key === key) kept = null;
  } else if (!(kept?.key === key && kept.at > now)) kept = t;
  return t;
}

/**
 * The top list for `key` and when it was ranked: the newest of this isolate's and the stored one (when
 * stale, while `background` runs its refresh); with neither, ranked now (and
 * stored after the response).
 */
export async function cachedTop(
  key: string,
  now: number,
  compute: () => Promise<Ranked>,
  shared: SharedTop,
  background: (p: Promise<unknown>) => void,
): Promise<{ top: TopConnection[]; at: number }> {
  let k = kept?.key === key ? kept : null;
  if (!(k && now - k.at < TOP_FRESH_MS) && shared.stored) {
    const s = await shared.stored.catch(() => null);
    if (s?.key === key && large(s) && !(k && k.at >= s.at)) k = kept = s;
  }
  if (k && now - k.at < TOP_FRESH_MS) return { top: k.value.top, at: k.at };
  if (k) {
    if (refreshing === null || now - refreshing >= TOP_FRESH_MS) {
      refreshing = now;
      background(
        rank(key, now, compute)
          .then((t) => large(t) && shared.store(t))
          .catch(() => undefined)
          .finally(() => (refreshing = null)),
      );
    }
    return { top: k.value.top, at: k.at };
  }
  const t = await rank(key, now, compute);
  if (large(t)) background(shared.store(t).catch(() => undefined));
  return { top: t.value.top, at: t.at };
}
