import { connectionObject, outboxObject } from "../bindings/stubs";
import type { ConnectionRecord } from "../connections/index-store";
import { readTopRanking, readUsageIndex, usageModels, writeTopRanking } from "../usage/index-db";
import { effectivePrices, priceOf } from "../usage/prices";
import { bucketsFromIndex, summarize } from "../usage/query";
import { DAY_MS, HOUR_MS, type UsageRow } from "../usage/store";
import type { PriceTable } from "../usage/types";
import type { UsageSection } from "./page";
import { noTiming, type ServerTiming } from "./server-timing";
import { cachedTop, keptFresh, type KeptTop, type Ranked, type SharedTop } from "./top-cache";
import type { ConnectionUsageView, TopConnection } from "./usage-charts";

const TOP = 10;
/** D1 binds at most 100 parameters: one per priced model. */
const MAX_PRICED_MODELS = 90;

const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

/** The environment's prices (its override over the provider's list). */
export async function dashboardPrices(env: Env): Promise<PriceTable> {
  return effectivePrices(await orNull(outboxObject(env).usagePrices()));
}

/** One connection's last 48 hours and 30 days from its object (`null` when it cannot answer). */
export async function connectionUsage(
  env: Env,
  c: Pick<ConnectionRecord, "provider_config_key" | "connection_id">,
  now: number,
): Promise<ConnectionUsageView | null> {
  const stub = connectionObject(env, c.provider_config_key, c.connection_id);
  const to = now - (now % HOUR_MS) + HOUR_MS;
  const [hours, days] = await Promise.all([
    orNull(stub.usageBuckets({ grain: "hour", from: to - 48 * HOUR_MS, to })),
    orNull(stub.usageBuckets({ grain: "day", from: now - (now % DAY_MS) - 29 * DAY_MS, to: now - (now % DAY_MS) + DAY_MS })),
  ]);
  if (!hours || !days) return null;
  return { provider_config_key: c.provider_config_key, connection_id: c.connection_id, hours: hours as UsageRow[], days: days as UsageRow[] };
}

const num = (x: number) => (Number.isFinite(x) ? String(x) : "0");
const RUNNING = "requests, input_tokens, cached_input_tokens, output_tokens";

/**
 * The top connections by cost over [from, to), summed and ranked inside D1
 * from the running totals (migrations/0004_usage_running.sql): per connection
 * and model used in the window, its latest running total (usage_series) minus,
 * only for a series that began before `from`, the one on its last day before
 * `from` (two index lookups) — not every day row (10,000 connections with a month of
 * history are 600,000 of those). `to` is after today (the ledger writes no
 * later day). One row per connection comes back. The prices of the models
 * present go in as a small VALUES table (names bound, prices as number
 * literals); null when there are too many priced models for one statement.
 */
async function topInIndex(db: D1Database, prices: PriceTable, present: string[], from: number, to: number): Promise<Ranked | null> {
  const priced = present.flatMap((model) => {
    const p = priceOf(prices, model);
    return p ? [{ model, p }] : [];
  });
  if (priced.length > MAX_PRICED_MODELS) return null;
  const table = priced.length
    ? `price (model, input, cached_input, output) AS (VALUES ${priced.map(({ p }) => `(?, ${num(p.input)}, ${num(p.cached_input)}, ${num(p.output)})`).join(", ")})`
    : "price (model, input, cached_input, output) AS (SELECT NULL, 0, 0, 0 WHERE 0)";
  const diff = (c: string) => `s.${c} - IFNULL(b.${c}, 0)`;
  const inWindow = `last_day >= ${num(from)} AND last_day < ${num(to)}`;
  const { results } = await db
    .prepare(
      `WITH ${table},
      w AS (
        SELECT provider_config_key, connection_id, model, ${RUNNING}
        FROM usage_series WHERE ${inWindow} AND first_day >= ${num(from)}
        UNION ALL
        SELECT s.provider_config_key, s.connection_id, s.model, ${diff("requests")}, ${diff("input_tokens")}, ${diff("cached_input_tokens")}, ${diff("output_tokens")}
        FROM usage_series s
        LEFT JOIN usage_running b ON b.provider_config_key = s.provider_config_key AND b.connection_id = s.connection_id AND b.model = s.model
          AND b.day = (SELECT MAX(x.day) FROM usage_running x WHERE x.provider_config_key = s.provider_config_key
            AND x.connection_id = s.connection_id AND x.model = s.model AND x.day < ${num(from)})
        WHERE ${inWindow.replaceAll("last_day", "s.last_day")} AND s.first_day < ${num(from)}
      )
      SELECT w.provider_config_key, w.connection_id, SUM(w.requests) AS requests, SUM(w.input_tokens + w.output_tokens) AS tokens,
        SUM((MAX(0, w.input_tokens - w.cached_input_tokens) * IFNULL(p.input, 0) + w.cached_input_tokens * IFNULL(p.cached_input, 0)
          + w.output_tokens * IFNULL(p.output, 0)) / 1000000.0) AS cost, COUNT(*) OVER () AS ranked
      FROM w LEFT JOIN price p ON p.model = w.model
      GROUP BY w.provider_config_key, w.connection_id
      ORDER BY cost DESC, requests DESC, w.provider_config_key, w.connection_id
      LIMIT ${TOP}`,
    )
    .bind(...priced.map(({ model }) => model))
    .all<TopConnection & { ranked: number }>();
  return { top: results.map(({ ranked: _, ...t }) => t), ranked: results[0]?.ranked ?? 0 };
}

/** The same ranking in JS over every row (GET /usage's path): only when the statement above cannot be built. */
async function topInWorker(db: D1Database, prices: PriceTable, from: number, to: number): Promise<Ranked> {
  const { connections } = summarize(bucketsFromIndex(await readUsageIndex(db, { from, to }), prices));
  const top = connections.slice(0, TOP).map((c) => ({
    provider_config_key: c.provider_config_key,
    connection_id: c.connection_id,
    requests: c.requests,
    tokens: c.input_tokens + c.output_tokens,
    cost: c.cost,
  }));
  return { top, ranked: connections.length };
}

type SectionOptions = {
  timing?: ServerTiming;
  /** Runs a refresh of a stale top list, and the storing of a new one, after the response (the request's `waitUntil`). */
  waitUntil?: (p: Promise<unknown>) => void;
};

/** The top list's key: the window's end and the SHA-256 of the prices (the window's start is the stored row's key). */
async function topKey(to: number, prices: PriceTable): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(prices)));
  return `${to}:${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The rankings stored in D1 for the window starting at `from` (usage_top): the read starts now, unless this isolate's list is fresh. */
function sharedTop(db: D1Database, from: number, now: number): SharedTop {
  const stored = keptFresh(now)
    ? null
    : orNull(readTopRanking<TopConnection>(db, from)).then((r) => r && { key: r.key, at: r.ranked_at, value: { top: r.top, ranked: r.ranked } });
  const store = (t: KeptTop) => writeTopRanking(db, { window_from: from, key: t.key, ranked_at: t.at, ranked: t.value.ranked, top: t.value.top });
  return { stored, store };
}

/**
 * The overview's usage section: the environment's top connections over the
 * last 30 days, from the D1 index alone (in a large environment, the ranking
 * stored in D1 and kept per isolate: src/dashboard/top-cache.ts states how
 * stale it may be).
 */
export async function usageSection(env: Env, now: number, { timing = noTiming, waitUntil = () => undefined }: SectionOptions = {}): Promise<UsageSection> {
  const dayStart = now - (now % DAY_MS);
  const [from, to] = [dayStart - 29 * DAY_MS, dayStart + DAY_MS];
  const db = env.INDEX_DB;
  // The stored ranking, the prices and the models present are read at once; a ranking needs the last two.
  const shared = sharedTop(db, from, now);
  if (shared.stored) shared.stored = timing.time("stored", shared.stored);
  const [prices, present] = await Promise.all([timing.time("prices", dashboardPrices(env)), timing.time("models", orNull(usageModels(db, from)))]);
  const models = present ?? [];
  const rank = () => topInIndex(db, prices, models, from, to).then((t) => t ?? topInWorker(db, prices, from, to));
  const ranked = await timing.time("top", orNull(topKey(to, prices).then((key) => cachedTop(key, now, rank, shared, waitUntil))));
  return { prices, top: ranked?.top ?? [], rankedAt: ranked?.at ?? null };
}
