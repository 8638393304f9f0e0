import { jsonColumns, jsonRowStatements, type RowsStatement } from "../lib/d1-json-rows";
import type { UsageIndexItem } from "../ops-index/messages";
import type { UsageTotals } from "./types";

/**
 * The environment-wide usage index: day sums per connection, model and source
 * in D1 (`INDEX_DB`, migrations/0002_usage.sql). Connection objects send their
 * changed days through INDEX_QUEUE on their alarm, off the request path
 * (src/ops-index/feed.ts `sendUsageIndex`), and the queue's consumer writes a
 * whole batch of connections with a few statements (`usageIndexStatements`);
 * GET /usage reads it for anything wider than one connection, without asking
 * every object. Beside the day rows, in the same write: the models used
 * (usage_models) and each connection and model's running totals
 * (usage_running, usage_series: migrations/0004_usage_running.sql), which
 * rank connections over a window without summing every day row.
 */

const TOTALS = ["requests", "errors", "estimated_requests", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"] as const;
/** The totals a ranking by cost needs, kept as running sums. */
const RUNNING = ["requests", "input_tokens", "cached_input_tokens", "output_tokens"] as const;

/** The same tables as migrations/0002_usage.sql to 0006_usage_forgotten.sql (also run here: idempotent, for local runs without migrations). */
export const USAGE_INDEX_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS usage_daily (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  model TEXT NOT NULL,
  source TEXT NOT NULL,
  ${TOTALS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(",\n  ")},
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id, day, model, source)
)`,
  "CREATE INDEX IF NOT EXISTS usage_daily_day ON usage_daily (day)",
  `CREATE TABLE IF NOT EXISTS usage_models (
  model TEXT PRIMARY KEY,
  last_day INTEGER NOT NULL
)`,
  `CREATE TABLE IF NOT EXISTS usage_running (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  day INTEGER NOT NULL,
  ${RUNNING.map((c) => `${c} INTEGER NOT NULL`).join(",\n  ")},
  PRIMARY KEY (provider_config_key, connection_id, model, day)
)`,
  `CREATE TABLE IF NOT EXISTS usage_series (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  first_day INTEGER NOT NULL,
  last_day INTEGER NOT NULL,
  ${RUNNING.map((c) => `${c} INTEGER NOT NULL`).join(",\n  ")},
  PRIMARY KEY (provider_config_key, connection_id, model)
)`,
  "CREATE INDEX IF NOT EXISTS usage_series_last_day ON usage_series (last_day)",
  `CREATE TABLE IF NOT EXISTS usage_top (
  window_from INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  ranked_at INTEGER NOT NULL,
  ranked INTEGER NOT NULL,
  top TEXT NOT NULL
)`,
  `CREATE TABLE IF NOT EXISTS usage_forgotten (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  forgotten_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id)
)`,
];

/** The series (connection and model) a write touched, with the first day it changed: the JSON rows `SERIES_OF` reads. */
const SERIES_OF = `s AS (SELECT json_extract(value, '$.provider_config_key') AS pck, json_extract(value, '$.connection_id') AS conn,
    json_extract(value, '$.model') AS model, json_extract(value, '$.first') AS first FROM json_each(?))`;
const OF_SERIES = (t: string) => `${t}.provider_config_key = s.pck AND ${t}.connection_id = s.conn AND ${t}.model = s.model`;

/**
 * Day rows (absolute sums): a row older than the stored one (a queue message
 * redelivered late) changes nothing, and so does a state a deleted connection
 * sent before it was deleted (a message still in the queue at the delete:
 * `usage_forgotten`), which would otherwise bring its rows back. A connection
 * created again under the same id counts from its new states on.
 */
const DAYS = `INSERT INTO usage_daily (provider_config_key, connection_id, day, model, source, ${TOTALS.join(", ")}, updated_at)
  SELECT ${jsonColumns(["provider_config_key", "connection_id", "day", "model", "source", ...TOTALS, "updated_at"])} FROM json_each(?)
  WHERE NOT EXISTS (SELECT 1 FROM usage_forgotten f WHERE f.provider_config_key = ${jsonColumns(["provider_config_key"])}
    AND f.connection_id = ${jsonColumns(["connection_id"])} AND f.forgotten_at >= ${jsonColumns(["updated_at"])})
  ON CONFLICT (provider_config_key, connection_id, day, model, source) DO UPDATE SET
  ${TOTALS.map((c) => `${c} = excluded.${c}`).join(", ")}, updated_at = excluded.updated_at
  WHERE excluded.updated_at >= usage_daily.updated_at`;

/** The models seen, each with the latest day it was used. */
const MODELS_SEEN = `INSERT INTO usage_models (model, last_day)
  SELECT json_extract(value, '$.model'), MAX(json_extract(value, '$.day')) FROM json_each(?) WHERE true GROUP BY 1
  ON CONFLICT (model) DO UPDATE SET last_day = MAX(last_day, excluded.last_day)`;

/**
 * Each touched series' running totals from its first changed day on, recomputed
 * from its day rows (sources summed): each row holds the sums of every day up to
 * and including its own. Many series in one statement, each found by its key
 * (the series' `first` rides along, so no second join: linear in the series).
 */
const RUNNING_FROM = `WITH ${SERIES_OF}
  INSERT INTO usage_running (provider_config_key, connection_id, model, day, ${RUNNING.join(", ")})
  SELECT r.provider_config_key, r.connection_id, r.model, r.day, ${RUNNING.map((c) => `r.${c}`).join(", ")} FROM (
    SELECT d.provider_config_key, d.connection_id, d.model, d.day, s.first, ${RUNNING.map((c) => `SUM(SUM(d.${c})) OVER w AS ${c}`).join(", ")}
    FROM s JOIN usage_daily d ON ${OF_SERIES("d")}
    GROUP BY d.provider_config_key, d.connection_id, d.model, d.day
    WINDOW w AS (PARTITION BY d.provider_config_key, d.connection_id, d.model ORDER BY d.day)
  ) r WHERE r.day >= r.first
  ON CONFLICT (provider_config_key, connection_id, model, day) DO UPDATE SET ${RUNNING.map((c) => `${c} = excluded.${c}`).join(", ")}`;

/** Each touched series' first and last day and its latest running totals, from usage_running. */
const SERIES = `WITH ${SERIES_OF}
  INSERT INTO usage_series (provider_config_key, connection_id, model, first_day, last_day, ${RUNNING.join(", ")})
  SELECT r.provider_config_key, r.connection_id, r.model, (SELECT MIN(x.day) FROM usage_running x WHERE ${OF_SERIES("x")}), r.day,
    ${RUNNING.map((c) => `r.${c}`).join(", ")}
  FROM s JOIN usage_running r ON ${OF_SERIES("r")} AND r.day = (SELECT MAX(x.day) FROM usage_running x WHERE ${OF_SERIES("x")})
  WHERE true
  ON CONFLICT (provider_config_key, connection_id, model) DO UPDATE SET first_day = excluded.first_day, last_day = excluded.last_day,
    ${RUNNING.map((c) => `${c} = excluded.${c}`).join(", ")}`;

/**
 * A series' recompute reads its day rows (a month of them, ~30–60) and writes its running totals: 25
 * series a statement, 50 a transaction (ROWS_PER_SLICE in src/ops-index/write.ts; ~7 ms of SQLite on
 * the bench's data, where 300 series in one statement took 39 ms), so a read waits behind a short one.
 */
const SERIES_WEIGHT = 10;

let schemaReady: Promise<unknown> | null = null;
/** The usage tables, created once per isolate when missing (local runs without migrations). */
export function ensureUsageSchema(db: D1Database): Promise<unknown> {
  schemaReady ??= db.batch(USAGE_INDEX_SCHEMA.map((s) => db.prepare(s))).catch((err) => {
    schemaReady = null;
    throw err;
  });
  return schemaReady;
}

/**
 * The statements that copy many connections' changed days into the index, in
 * order: the day rows, the models seen, then the running totals and series of
 * every connection and model touched (one statement each for all of them, not
 * one round trip per connection: the INDEX_QUEUE consumer writes a whole queue
 * batch's usage with them, src/ops-index/write.ts). Repeating them is harmless.
 */
export function usageIndexStatements(db: D1Database, items: UsageIndexItem[]): RowsStatement[] {
  const days = items.flatMap((item) =>
    item.rows.map((r) => ({
      provider_config_key: item.provider_config_key,
      connection_id: item.connection_id,
      day: r.start,
      model: r.model,
      source: r.source,
      ...Object.fromEntries(TOTALS.map((c) => [c, r[c]])),
      updated_at: item.at,
    })),
  );
  const series = new Map<string, { provider_config_key: string; connection_id: string; model: string; first: number }>();
  for (const d of days) {
    const key = JSON.stringify([d.provider_config_key, d.connection_id, d.model]);
    const s = series.get(key);
    if (!s) series.set(key, { provider_config_key: d.provider_config_key, connection_id: d.connection_id, model: d.model, first: d.day });
    else s.first = Math.min(s.first, d.day);
  }
  const touched = [...series.values()];
  return [
    ...jsonRowStatements(db, DAYS, days),
    ...jsonRowStatements(db, MODELS_SEEN, days),
    ...jsonRowStatements(db, RUNNING_FROM, touched, SERIES_WEIGHT),
    ...jsonRowStatements(db, SERIES, touched, SERIES_WEIGHT),
  ];
}

/** The models used on `from`'s day or later (a superset: a model whose rows were all deleted stays listed). */
export async function usageModels(db: D1Database, from: number): Promise<string[]> {
  await ensureUsageSchema(db);
  const { results } = await db.prepare("SELECT model FROM usage_models WHERE last_day >= ?").bind(from).all<{ model: string }>();
  return results.map((r) => r.model);
}

/** How long a deleted connection's mark is kept: far longer than any message waits in the queue (retries included). */
const FORGOTTEN_KEPT_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Forgets a deleted connection's rows (its object's own ledger is gone with
 * its storage), and marks it forgotten as of `at` so that a state it sent
 * earlier, still in the queue, is not written back (`DAYS`).
 */
export async function deleteUsageIndex(db: D1Database, providerConfigKey: string, connectionId: string, at = Date.now()): Promise<void> {
  await ensureUsageSchema(db);
  await db.batch([
    db
      .prepare(
        `INSERT INTO usage_forgotten (provider_config_key, connection_id, forgotten_at) VALUES (?, ?, ?)
        ON CONFLICT (provider_config_key, connection_id) DO UPDATE SET forgotten_at = MAX(forgotten_at, excluded.forgotten_at)`,
      )
      .bind(providerConfigKey, connectionId, at),
    db.prepare("DELETE FROM usage_forgotten WHERE forgotten_at < ?").bind(at - FORGOTTEN_KEPT_MS),
    ...["usage_daily", "usage_running", "usage_series"].map((table) =>
      db.prepare(`DELETE FROM ${table} WHERE provider_config_key = ? AND connection_id = ?`).bind(providerConfigKey, connectionId),
    ),
  ]);
}

/** A stored ranking of the top connections (migrations/0005_usage_top.sql): `top` as the dashboard shows it. */
type StoredTop<T> = { window_from: number; key: string; ranked_at: number; ranked: number; top: T[] };

/** The stored ranking of the window starting at `from`, if any. */
export async function readTopRanking<T>(db: D1Database, from: number): Promise<StoredTop<T> | null> {
  await ensureUsageSchema(db);
  const row = await db
    .prepare("SELECT window_from, key, ranked_at, ranked, top FROM usage_top WHERE window_from = ?")
    .bind(from)
    .first<Omit<StoredTop<T>, "top"> & { top: string }>();
  return row ? { ...row, top: JSON.parse(row.top) as T[] } : null;
}

/** Stores a ranking unless a later one is there; earlier windows' rows go. */
export async function writeTopRanking<T>(db: D1Database, t: StoredTop<T>): Promise<void> {
  await ensureUsageSchema(db);
  await db.batch([
    db
      .prepare(
        `INSERT INTO usage_top (window_from, key, ranked_at, ranked, top) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (window_from) DO UPDATE SET key = excluded.key, ranked_at = excluded.ranked_at, ranked = excluded.ranked, top = excluded.top
        WHERE excluded.ranked_at >= usage_top.ranked_at`,
      )
      .bind(t.window_from, t.key, t.ranked_at, t.ranked, JSON.stringify(t.top)),
    db.prepare("DELETE FROM usage_top WHERE window_from < ?").bind(t.window_from),
  ]);
}

export type IndexRowOut = UsageTotals & { provider_config_key: string; connection_id: string; day: number; model: string; source: string };

type IndexFilter = {
  from: number;
  to: number;
  provider_config_key?: string;
  connection_id?: string;
  model?: string;
  /** Only these connections (an end user's). */
  connections?: Array<[string, string]>;
  /** At most this many rows (over every group of connections); none: all of them. */
  limit?: number;
};

/** D1 binds at most 100 parameters per statement: an end user's connections are asked for in groups. */
const CONNECTIONS_PER_QUERY = 40;

export async function readUsageIndex(db: D1Database, f: IndexFilter): Promise<IndexRowOut[]> {
  if (f.connections && f.connections.length > CONNECTIONS_PER_QUERY) {
    const parts: IndexRowOut[][] = [];
    let left = f.limit ?? Number.POSITIVE_INFINITY;
    for (let i = 0; i < f.connections.length && left > 0; i += CONNECTIONS_PER_QUERY) {
      const part = await readUsageIndex(db, {
        ...f,
        connections: f.connections.slice(i, i + CONNECTIONS_PER_QUERY),
        limit: f.limit === undefined ? undefined : left,
      });
      parts.push(part);
      left -= part.length;
    }
    return parts.flat().sort((a, b) => a.day - b.day);
  }
  await ensureUsageSchema(db);
  const where = ["day >= ?", "day < ?"];
  const args: unknown[] = [f.from, f.to];
  if (f.provider_config_key !== undefined) {
    where.push("provider_config_key = ?");
    args.push(f.provider_config_key);
  }
  if (f.connection_id !== undefined) {
    where.push("connection_id = ?");
    args.push(f.connection_id);
  }
  if (f.model !== undefined) {
    where.push("model = ?");
    args.push(f.model);
  }
  if (f.connections) {
    if (f.connections.length === 0) return [];
    where.push(`(provider_config_key, connection_id) IN (VALUES ${f.connections.map(() => "(?, ?)").join(", ")})`);
    for (const [providerConfigKey, connectionId] of f.connections) args.push(providerConfigKey, connectionId);
  }
  if (f.limit !== undefined) args.push(f.limit);
  const { results } = await db
    .prepare(
      `SELECT provider_config_key, connection_id, day, model, source, ${TOTALS.join(", ")} FROM usage_daily WHERE ${where.join(" AND ")} ORDER BY day${f.limit !== undefined ? " LIMIT ?" : ""}`,
    )
    .bind(...args)
    .all<IndexRowOut>();
  return results;
}
