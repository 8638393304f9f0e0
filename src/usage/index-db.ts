import type { IndexRow } from "./store";
import type { UsageTotals } from "./types";

/**
 * The environment-wide usage index: day sums per connection, model and source
 * in D1 (`INDEX_DB`, migrations/0002_usage.sql). Connection objects copy their
 * changed days here on their alarm, off the request path; GET /usage reads it
 * for anything wider than one connection, without asking every object.
 * Beside the day rows, in the same batch: the models used (usage_models) and
 * each connection and model's running totals (usage_running, usage_series:
 * migrations/0004_usage_running.sql), which rank connections over a window
 * without summing every day row.
 */

const TOTALS = ["requests", "errors", "estimated_requests", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"] as const;
/** The totals a ranking by cost needs, kept as running sums. */
const RUNNING = ["requests", "input_tokens", "cached_input_tokens", "output_tokens"] as const;

/** The same tables as migrations/0002_usage.sql, 0003_usage_models.sql, 0004_usage_running.sql and 0005_usage_top.sql (also run here: idempotent, for local runs without migrations). */
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
];

/**
 * One connection and model's running totals from `day` on, recomputed from its
 * day rows (sources summed): each row holds the sums of every day up to and
 * including its own. Binds: provider_config_key, connection_id, model, day.
 */
const RUNNING_FROM = `INSERT INTO usage_running (provider_config_key, connection_id, model, day, ${RUNNING.join(", ")})
  SELECT * FROM (
    SELECT provider_config_key, connection_id, model, day, ${RUNNING.map((c) => `SUM(SUM(${c})) OVER w`).join(", ")}
    FROM usage_daily WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3
    GROUP BY day WINDOW w AS (ORDER BY day)
  ) WHERE day >= ?4
  ON CONFLICT (provider_config_key, connection_id, model, day) DO UPDATE SET ${RUNNING.map((c) => `${c} = excluded.${c}`).join(", ")}`;

/** One connection and model's first and last day and its latest running totals, from usage_running. Binds as RUNNING_FROM's first three. */
const SERIES = `INSERT INTO usage_series (provider_config_key, connection_id, model, first_day, last_day, ${RUNNING.join(", ")})
  SELECT provider_config_key, connection_id, model,
    (SELECT MIN(day) FROM usage_running WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3), day, ${RUNNING.join(", ")}
  FROM usage_running WHERE provider_config_key = ?1 AND connection_id = ?2 AND model = ?3 ORDER BY day DESC LIMIT 1
  ON CONFLICT (provider_config_key, connection_id, model) DO UPDATE SET first_day = excluded.first_day, last_day = excluded.last_day,
    ${RUNNING.map((c) => `${c} = excluded.${c}`).join(", ")}`;

/** A model seen on a day: kept with the latest such day. */
const MODEL_SEEN = `INSERT INTO usage_models (model, last_day) VALUES (?, ?)
  ON CONFLICT (model) DO UPDATE SET last_day = MAX(last_day, excluded.last_day)`;

let schemaReady: Promise<unknown> | null = null;
function ensureSchema(db: D1Database): Promise<unknown> {
  schemaReady ??= db.batch(USAGE_INDEX_SCHEMA.map((s) => db.prepare(s))).catch((err) => {
    schemaReady = null;
    throw err;
  });
  return schemaReady;
}

/** Writes one connection's changed days (absolute sums: a repeated write is harmless). */
export async function writeUsageIndex(db: D1Database, providerConfigKey: string, connectionId: string, rows: IndexRow[], now = Date.now()): Promise<void> {
  if (rows.length === 0) return;
  await ensureSchema(db);
  const sql = `INSERT INTO usage_daily (provider_config_key, connection_id, day, model, source, ${TOTALS.join(", ")}, updated_at)
    VALUES (?, ?, ?, ?, ?, ${TOTALS.map(() => "?").join(", ")}, ?)
    ON CONFLICT (provider_config_key, connection_id, day, model, source) DO UPDATE SET
    ${TOTALS.map((c) => `${c} = excluded.${c}`).join(", ")}, updated_at = excluded.updated_at`;
  const days = new Map<string, { first: number; last: number }>();
  for (const r of rows) {
    const d = days.get(r.model);
    days.set(r.model, { first: Math.min(r.start, d?.first ?? r.start), last: Math.max(r.start, d?.last ?? r.start) });
  }
  await db.batch([
    ...rows.map((r) => db.prepare(sql).bind(providerConfigKey, connectionId, r.start, r.model, r.source, ...TOTALS.map((c) => r[c]), now)),
    ...[...days].flatMap(([model, { first, last }]) => [
      db.prepare(MODEL_SEEN).bind(model, last),
      db.prepare(RUNNING_FROM).bind(providerConfigKey, connectionId, model, first),
      db.prepare(SERIES).bind(providerConfigKey, connectionId, model),
    ]),
  ]);
}

/** The models used on `from`'s day or later (a superset: a model whose rows were all deleted stays listed). */
export async function usageModels(db: D1Database, from: number): Promise<string[]> {
  await ensureSchema(db);
  const { results } = await db.prepare("SELECT model FROM usage_models WHERE last_day >= ?").bind(from).all<{ model: string }>();
  return results.map((r) => r.model);
}

/** Forgets a deleted connection's rows (its object's own ledger is gone with its storage). */
export async function deleteUsageIndex(db: D1Database, providerConfigKey: string, connectionId: string): Promise<void> {
  await ensureSchema(db);
  await db.batch(
    ["usage_daily", "usage_running", "usage_series"].map((table) =>
      db.prepare(`DELETE FROM ${table} WHERE provider_config_key = ? AND connection_id = ?`).bind(providerConfigKey, connectionId),
    ),
  );
}

/** A stored ranking of the top connections (migrations/0005_usage_top.sql): `top` as the dashboard shows it. */
type StoredTop<T> = { window_from: number; key: string; ranked_at: number; ranked: number; top: T[] };

/** The stored ranking of the window starting at `from`, if any. */
export async function readTopRanking<T>(db: D1Database, from: number): Promise<StoredTop<T> | null> {
  await ensureSchema(db);
  const row = await db
    .prepare("SELECT window_from, key, ranked_at, ranked, top FROM usage_top WHERE window_from = ?")
    .bind(from)
    .first<Omit<StoredTop<T>, "top"> & { top: string }>();
  return row ? { ...row, top: JSON.parse(row.top) as T[] } : null;
}

/** Stores a ranking unless a later one is there; earlier windows' rows go. */
export async function writeTopRanking<T>(db: D1Database, t: StoredTop<T>): Promise<void> {
  await ensureSchema(db);
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
};

/** D1 binds at most 100 parameters per statement: an end user's connections are asked for in groups. */
const CONNECTIONS_PER_QUERY = 40;

export async function readUsageIndex(db: D1Database, f: IndexFilter): Promise<IndexRowOut[]> {
  if (f.connections && f.connections.length > CONNECTIONS_PER_QUERY) {
    const parts: IndexRowOut[][] = [];
    for (let i = 0; i < f.connections.length; i += CONNECTIONS_PER_QUERY)
      parts.push(await readUsageIndex(db, { ...f, connections: f.connections.slice(i, i + CONNECTIONS_PER_QUERY) }));
    return parts.flat().sort((a, b) => a.day - b.day);
  }
  await ensureSchema(db);
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
  const { results } = await db
    .prepare(`SELECT provider_config_key, connection_id, day, model, source, ${TOTALS.join(", ")} FROM usage_daily WHERE ${where.join(" AND ")} ORDER BY day`)
    .bind(...args)
    .all<IndexRowOut>();
  return results;
}
