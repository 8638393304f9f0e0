import type { LogQuery, OperationLog, OperationStatus, OperationType } from "./types";

/** Lines are kept this long; older ones are pruned on a later write. */
export const LOG_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** Pruning is one indexed DELETE; doing it at most this often keeps writes cheap. */
const PRUNE_EVERY_MS = 10 * 60 * 1000;
/** Long strings are cut: a log line is a summary, not a payload. */
const MAX_TEXT = 300;

/** One line as written: the batch carries ids and times made where the operation ran. */
export type LogEntry = Omit<OperationLog, "created_at"> & { at: number; aggregate?: boolean };

/** Aggregated lines (see OperationInput.aggregate): one per kind per window, with a count. */
const AGGREGATE_WINDOW_MS = 60_000;

/** The row as SQLite gives it back: the same columns, type and status as plain text. */
export type LogRow = Omit<LogEntry, "type" | "status" | "aggregate"> & { type: string; status: string };

/** A line's columns, in the order both the object's log and the environment-wide index store them. */
export const LINE_COLUMNS = [
  "id",
  "at",
  "provider_config_key",
  "connection_id",
  "type",
  "status",
  "http_status",
  "duration_ms",
  "retries",
  "wait_ms",
  "request_id",
  "method",
  "path",
  "detail",
] as const satisfies ReadonlyArray<keyof LogEntry>;
const INSERT_LINE = `INSERT OR IGNORE INTO operation_logs (${LINE_COLUMNS.join(", ")})`;
/** Many lines at once: a JSON array of rows, each an array in LINE_COLUMNS order. */
const INSERT_LINES_JSON = `${INSERT_LINE} SELECT ${LINE_COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ")} FROM json_each(?)`;

const cut = (s: string | null) => (s === null ? null : s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

/** One line's values in LINE_COLUMNS order, as stored. */
function rowOf(e: LogEntry): SqlStorageValue[] {
  return [
    e.id,
    e.at,
    e.provider_config_key,
    e.connection_id,
    e.type,
    e.status,
    e.http_status,
    Math.max(0, Math.round(e.duration_ms)),
    e.retries,
    Math.max(0, Math.round(e.wait_ms)),
    cut(e.request_id),
    e.method,
    cut(e.path),
    cut(e.detail),
  ];
}

export function toLog(row: LogRow): OperationLog {
  return {
    id: row.id,
    provider_config_key: row.provider_config_key,
    connection_id: row.connection_id,
    type: row.type as OperationType,
    status: row.status as OperationStatus,
    http_status: row.http_status,
    duration_ms: row.duration_ms,
    retries: row.retries,
    wait_ms: row.wait_ms,
    request_id: row.request_id,
    method: row.method,
    path: row.path,
    detail: row.detail,
    created_at: new Date(row.at).toISOString(),
  };
}

/** A connection's operation log in its Durable Object's SQLite. */
export function createLogStore(sql: SqlStorage, transaction: <T>(fn: () => T) => T) {
  let lastPrune = 0;

  /**
   * An aggregated line: counted into this window's line of the same kind (its
   * detail then says how many), or, first in its window, written and remembered.
   */
  function counted(e: LogEntry): boolean {
    const kind = `${e.type}|${e.status}|${e.http_status ?? ""}|${e.method ?? ""}|${e.detail ?? ""}`;
    const row = sql
      .exec<{ line_id: string; window_start: number; count: number }>("SELECT line_id, window_start, count FROM operation_log_aggregates WHERE kind = ?", kind)
      .toArray()[0];
    // Lines of one batch are not in time order: one a little before the window's first line is in it too.
    if (row && Math.abs(e.at - row.window_start) < AGGREGATE_WINDOW_MS) {
      const count = row.count + 1;
      sql.exec("UPDATE operation_log_aggregates SET count = ? WHERE kind = ?", count, kind);
      sql.exec(
        "UPDATE operation_logs SET detail = ? WHERE id = ?",
        cut(`${e.detail ?? e.type} (×${count} within ${AGGREGATE_WINDOW_MS / 1000} s)`),
        row.line_id,
      );
      return true;
    }
    sql.exec(
      "INSERT INTO operation_log_aggregates (kind, line_id, window_start, count) VALUES (?, ?, ?, 1) ON CONFLICT (kind) DO UPDATE SET line_id = excluded.line_id, window_start = excluded.window_start, count = 1",
      kind,
      e.id,
      e.at,
    );
    return false;
  }

  /**
   * Writes a batch; `folded` (if given) receives the ids of aggregated lines that
   * were counted into their window's line rather than written, so the caller can
   * leave them out of the environment-wide index. The index has no aggregate
   * column: there an aggregated line appears once (the window's first), without
   * the later "(×N within 60 s)" count, which only this connection's log keeps.
   */
  function append(entries: LogEntry[], now = Date.now(), folded?: string[]): number {
    return transaction(() => {
      // Aggregated lines one by one, in order (each may count into an earlier one);
      // every other line of the batch in one statement (one call into SQLite, not one per line).
      const rows: SqlStorageValue[][] = [];
      for (const e of entries) {
        if (e.aggregate && counted(e)) {
          folded?.push(e.id);
          continue;
        }
        const row = rowOf(e);
        if (e.aggregate) sql.exec(`${INSERT_LINE} VALUES (${row.map(() => "?").join(", ")})`, ...row);
        else rows.push(row);
      }
      if (rows.length) sql.exec(INSERT_LINES_JSON, JSON.stringify(rows));
      if (now - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now;
        sql.exec("DELETE FROM operation_logs WHERE at < ?", now - LOG_RETENTION_MS);
      }
      return entries.length;
    });
  }

  /** Newest first; lines older than the retention are never returned, pruned or not. */
  function query(q: LogQuery, now = Date.now()): OperationLog[] {
    const where = ["at >= ?"];
    const args: SqlStorageValue[] = [now - LOG_RETENTION_MS];
    if (q.type) {
      where.push("type = ?");
      args.push(q.type);
    }
    if (q.status) {
      where.push("status = ?");
      args.push(q.status);
    }
    if (q.http_status !== undefined) {
      where.push("http_status = ?");
      args.push(q.http_status);
    }
    if (q.before) {
      where.push("(at, id) < (?, ?)");
      args.push(q.before.at, q.before.id);
    }
    return sql
      .exec<LogRow>(`SELECT * FROM operation_logs WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT ?`, ...args, q.limit)
      .toArray()
      .map(toLog);
  }

  return { append, query };
}

export type LogStore = ReturnType<typeof createLogStore>;
