import { emptyTotals, type UsageCap, type UsageSample, type UsageTotals } from "./types";

/**
 * One connection's usage in its Durable Object's SQLite: sums per UTC day
 * (kept) and per hour (the last 48 h), per model and source. Day rows carry a
 * revision so changed days can be copied to the environment index later.
 */

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
/** Hour rows are kept a little longer than the 48 h they are asked for. */
const HOUR_RETENTION_MS = 49 * HOUR_MS;

export type Grain = "day" | "hour";

export type UsageRow = UsageTotals & { start: number; model: string; source: string };
export type IndexRow = UsageRow & { rev: number };

const TOTAL_COLUMNS = ["requests", "errors", "estimated_requests", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"] as const;

/** Built once: the same text every time (and the runtime's statement cache keys on it). */
const UPSERT = `INSERT INTO usage_buckets (grain, start, model, source, ${TOTAL_COLUMNS.join(", ")}, rev) VALUES (?, ?, ?, ?, ${TOTAL_COLUMNS.map(() => "?").join(", ")}, 1)
       ON CONFLICT (grain, start, model, source) DO UPDATE SET ${TOTAL_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}, rev = rev + 1`;

export const startOf = (grain: Grain, at: number) => at - (at % (grain === "day" ? DAY_MS : HOUR_MS));

/** Start of the UTC day or month `at` falls in, and of the next one. */
export function periodOf(period: UsageCap["period"], at: number): { start: number; end: number } {
  if (period === "day") {
    const start = startOf("day", at);
    return { start, end: start + DAY_MS };
  }
  const d = new Date(at);
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

function totalsOfSample(s: UsageSample): UsageTotals {
  return {
    requests: 1,
    errors: s.error ? 1 : 0,
    estimated_requests: s.estimated ? 1 : 0,
    input_tokens: s.input,
    cached_input_tokens: s.cachedInput,
    output_tokens: s.output,
    reasoning_tokens: s.reasoning,
  };
}

export type StoredCap = UsageCap & { provider: string };

export function createUsageStore(sql: SqlStorage, transaction: <T>(fn: () => T) => T) {
  let lastPrune = 0;

  function upsert(grain: Grain, start: number, model: string, source: string, t: UsageTotals) {
    sql.exec(UPSERT, grain, start, model, source, ...TOTAL_COLUMNS.map((c) => t[c]));
  }

  /** Adds a batch of samples (one transaction, one upsert per bucket the batch touches). */
  function add(samples: UsageSample[], now = Date.now()): void {
    const sums = new Map<string, { grain: Grain; start: number; model: string; source: string; t: UsageTotals }>();
    const sum = (grain: Grain, start: number, s: UsageSample, t: UsageTotals) => {
      const key = `${grain}\u0000${start}\u0000${s.model}\u0000${s.source}`;
      const b = sums.get(key);
      if (!b) sums.set(key, { grain, start, model: s.model, source: s.source, t: { ...t } });
      else for (const c of TOTAL_COLUMNS) b.t[c] += t[c];
    };
    for (const s of samples) {
      const t = totalsOfSample(s);
      sum("day", startOf("day", s.at), s, t);
      if (s.at >= now - HOUR_RETENTION_MS) sum("hour", startOf("hour", s.at), s, t);
    }
    transaction(() => {
      for (const b of sums.values()) upsert(b.grain, b.start, b.model, b.source, b.t);
      if (now - lastPrune >= HOUR_MS) {
        lastPrune = now;
        sql.exec("DELETE FROM usage_buckets WHERE grain = 'hour' AND start < ?", now - HOUR_RETENTION_MS);
      }
    });
  }

  /** Buckets in [from, to), oldest first. */
  function query(q: { grain: Grain; from: number; to: number; model?: string }): UsageRow[] {
    const args: SqlStorageValue[] = [q.grain, startOf(q.grain, q.from), q.to];
    let where = "grain = ? AND start >= ? AND start < ?";
    if (q.model !== undefined) {
      where += " AND model = ?";
      args.push(q.model);
    }
    return sql
      .exec<UsageRow>(`SELECT start, model, source, ${TOTAL_COLUMNS.join(", ")} FROM usage_buckets WHERE ${where} ORDER BY start, model, source`, ...args)
      .toArray()
      .map((r) => ({ ...r }));
  }

  /** Day rows changed since they were last copied to the environment index. */
  function unindexed(limit = 500): IndexRow[] {
    return sql
      .exec<IndexRow>(
        `SELECT start, model, source, rev, ${TOTAL_COLUMNS.join(", ")} FROM usage_buckets WHERE grain = 'day' AND rev > indexed_rev LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({ ...r }));
  }

  function markIndexed(rows: IndexRow[]): void {
    transaction(() => {
      for (const r of rows)
        sql.exec("UPDATE usage_buckets SET indexed_rev = ? WHERE grain = 'day' AND start = ? AND model = ? AND source = ?", r.rev, r.start, r.model, r.source);
    });
  }

  function getCap(): StoredCap | null {
    const row = sql.exec<{ metric: string; period: string; lim: number; provider: string }>("SELECT metric, period, lim, provider FROM usage_cap").toArray()[0];
    return row ? { metric: row.metric as UsageCap["metric"], period: row.period as UsageCap["period"], limit: row.lim, provider: row.provider } : null;
  }

  function setCap(cap: StoredCap | null): void {
    if (cap === null) sql.exec("DELETE FROM usage_cap");
    else
      sql.exec("INSERT OR REPLACE INTO usage_cap (id, metric, period, lim, provider) VALUES (1, ?, ?, ?, ?)", cap.metric, cap.period, cap.limit, cap.provider);
  }

  /** Per model over [from, to) of day rows (the cap's period). */
  function perModel(from: number, to: number): Array<UsageTotals & { model: string }> {
    return sql
      .exec<UsageTotals & { model: string }>(
        `SELECT model, ${TOTAL_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(", ")} FROM usage_buckets WHERE grain = 'day' AND start >= ? AND start < ? GROUP BY model`,
        from,
        to,
      )
      .toArray()
      .map((r) => ({ ...emptyTotals(), ...r }));
  }

  /** Marks a threshold alerted for a period; false when it already was (so each goes out once). */
  function claimAlert(periodStart: number, threshold: number): boolean {
    return sql.exec("INSERT OR IGNORE INTO usage_alerts (period_start, threshold) VALUES (?, ?)", periodStart, threshold).rowsWritten > 0;
  }

  return { add, query, unindexed, markIndexed, getCap, setCap, perModel, claimAlert };
}
