import { jsonColumns, jsonRowStatements, type RowsStatement } from "../lib/d1-json-rows";
import { LINE_COLUMNS, LOG_RETENTION_MS } from "../logs/store";
import { ensureUsageSchema, usageIndexStatements } from "../usage/index-db";
import type { DeliveryIndexRow, IndexMessage } from "./messages";

/** Finished deliveries are listed this long (as in the connection's object). */
const DELIVERY_INDEX_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 10 * 60 * 1000;
const PRUNE_ROWS = 5_000;
/**
 * Rows per D1 call (one transaction each). D1 runs one statement at a time per
 * database: a read that arrives while a transaction of a whole queue batch
 * (up to 10,000 lines, 20–30 ms) runs waits for all of it. In slices of this
 * many rows, it waits for one slice at most (a few ms); the slices go one after
 * the other, so a batch never queues more than one ahead of a read.
 */
export const ROWS_PER_SLICE = 500;

const DELIVERY_COLUMNS = [
  "id",
  "event_id",
  "type",
  "connection_id",
  "provider_config_key",
  "endpoint",
  "url",
  "status",
  "attempt_count",
  "next_attempt_at",
  "deadline_at",
  "created_at",
  "updated_at",
  "last_status_code",
  "last_error",
  "rev",
] as const satisfies ReadonlyArray<keyof DeliveryIndexRow>;

const LINES = `INSERT OR IGNORE INTO operations (${LINE_COLUMNS.join(", ")}) SELECT ${jsonColumns(LINE_COLUMNS)} FROM json_each(?)`;
// `WHERE true`: SQLite needs it before an upsert's ON CONFLICT when the rows come from a SELECT.
const DELIVERIES = `INSERT INTO deliveries (${DELIVERY_COLUMNS.join(", ")}) SELECT ${jsonColumns(DELIVERY_COLUMNS)} FROM json_each(?) WHERE true
  ON CONFLICT (id) DO UPDATE SET ${DELIVERY_COLUMNS.filter((c) => c !== "id")
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}
  WHERE excluded.rev >= deliveries.rev`;

let lastPrune = 0;

/** The latest state of each delivery in a batch (one upsert per id). */
function latest(rows: DeliveryIndexRow[]): DeliveryIndexRow[] {
  const by = new Map<string, DeliveryIndexRow>();
  for (const r of rows) {
    const seen = by.get(r.id);
    if (!seen || r.rev >= seen.rev) by.set(r.id, r);
  }
  return [...by.values()];
}

/** Consecutive statements grouped into D1 calls of at most ROWS_PER_SLICE rows (a larger statement alone). */
function slices(statements: RowsStatement[]): D1PreparedStatement[][] {
  const out: D1PreparedStatement[][] = [];
  let current: D1PreparedStatement[] = [];
  let rows = 0;
  for (const s of statements) {
    if (current.length && rows + s.rows > ROWS_PER_SLICE) {
      out.push(current);
      current = [];
      rows = 0;
    }
    current.push(s.statement);
    rows += s.rows;
  }
  if (current.length) out.push(current);
  return out;
}

/**
 * Writes a batch of index messages to D1 in short transactions, one after the
 * other (`ROWS_PER_SLICE`): lines are inserted once (a redelivered message
 * changes nothing), deliveries upserted unless the stored state is newer, and
 * the usage days of every connection in the batch written together, their
 * running totals recomputed after them. Every write is idempotent, so a batch
 * that fails part-way is retried whole.
 */
export async function writeIndexBatch(db: D1Database, messages: IndexMessage[], now = Date.now()): Promise<void> {
  const logs = messages.flatMap((m) => m.logs ?? []);
  const deliveries = latest(messages.flatMap((m) => m.deliveries ?? []));
  const usage = messages.flatMap((m) => m.usage ?? []);
  if (usage.length) await ensureUsageSchema(db);
  const statements: RowsStatement[] = [
    ...jsonRowStatements(db, LINES, logs),
    ...jsonRowStatements(db, DELIVERIES, deliveries),
    ...usageIndexStatements(db, usage),
  ];
  if (now - lastPrune >= PRUNE_EVERY_MS) {
    lastPrune = now;
    // Up to PRUNE_ROWS expired lines, oldest first (the `at` index), a slice at a time.
    for (let n = 0; n < PRUNE_ROWS; n += ROWS_PER_SLICE)
      statements.push({
        statement: db
          .prepare(`DELETE FROM operations WHERE rowid IN (SELECT rowid FROM operations WHERE at < ? LIMIT ${ROWS_PER_SLICE})`)
          .bind(now - LOG_RETENTION_MS),
        rows: ROWS_PER_SLICE,
      });
    statements.push({
      statement: db
        .prepare(`DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE updated_at < ? AND status != 'pending' LIMIT ${ROWS_PER_SLICE})`)
        .bind(now - DELIVERY_INDEX_RETENTION_MS),
      rows: ROWS_PER_SLICE,
    });
  }
  for (const slice of slices(statements)) await db.batch(slice);
}
