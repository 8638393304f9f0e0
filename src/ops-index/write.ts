import { LINE_COLUMNS, LOG_RETENTION_MS } from "../logs/store";
import type { DeliveryIndexRow, IndexMessage } from "./messages";

/** Finished deliveries are listed this long (as in the connection's object). */
const DELIVERY_INDEX_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/**
 * Rows per statement: a batch's rows go to D1 as one JSON text bound to one
 * parameter (`json_each`), so a statement is not bound by D1's 100 parameters
 * (7 lines a statement before, 1,429 statements for a full queue batch: over
 * D1's queries per invocation). The text stays far under D1's 2 MB per value.
 */
const ROWS_PER_STATEMENT = 500;
const BYTES_PER_STATEMENT = 512 * 1024;
const PRUNE_EVERY_MS = 10 * 60 * 1000;
const PRUNE_ROWS = 5_000;

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

let lastPrune = 0;

/**
 * `INSERT … SELECT … FROM json_each(?)`: each statement takes many rows as one
 * JSON array of objects (a missing key is NULL, as an unbound column was),
 * one JSON text per statement instead of a parameter per column and row.
 */
function inserts<T extends object>(db: D1Database, head: string, tail: string, columns: readonly (keyof T & string)[], rows: T[]): D1PreparedStatement[] {
  // `WHERE true`: SQLite needs it before an upsert's ON CONFLICT when the rows come from a SELECT.
  const sql = `${head} (${columns.join(", ")}) SELECT ${columns.map((c) => `json_extract(value, '$.${c}')`).join(", ")} FROM json_each(?) WHERE true ${tail}`;
  const out: D1PreparedStatement[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  const close = () => {
    if (chunk.length) out.push(db.prepare(sql).bind(`[${chunk.join(",")}]`));
    chunk = [];
    bytes = 0;
  };
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (chunk.length >= ROWS_PER_STATEMENT || (chunk.length && bytes + json.length > BYTES_PER_STATEMENT)) close();
    chunk.push(json);
    bytes += json.length + 1;
  }
  close();
  return out;
}

/** The latest state of each delivery in a batch (one upsert per id). */
function latest(rows: DeliveryIndexRow[]): DeliveryIndexRow[] {
  const by = new Map<string, DeliveryIndexRow>();
  for (const r of rows) {
    const seen = by.get(r.id);
    if (!seen || r.rev >= seen.rev) by.set(r.id, r);
  }
  return [...by.values()];
}

/**
 * Writes a batch of index messages to D1 in one `batch()` (one round trip, one
 * transaction): lines are inserted once (a redelivered message changes
 * nothing), deliveries upserted unless the stored state is newer.
 */
export async function writeIndexBatch(db: D1Database, messages: IndexMessage[], now = Date.now()): Promise<void> {
  const logs = messages.flatMap((m) => m.logs ?? []);
  const deliveries = latest(messages.flatMap((m) => m.deliveries ?? []));
  const statements = [
    ...inserts(db, "INSERT OR IGNORE INTO operations", "", LINE_COLUMNS, logs),
    ...inserts(
      db,
      "INSERT INTO deliveries",
      `ON CONFLICT (id) DO UPDATE SET ${DELIVERY_COLUMNS.filter((c) => c !== "id")
        .map((c) => `${c} = excluded.${c}`)
        .join(", ")}
       WHERE excluded.rev >= deliveries.rev`,
      DELIVERY_COLUMNS,
      deliveries,
    ),
  ];
  if (now - lastPrune >= PRUNE_EVERY_MS) {
    lastPrune = now;
    statements.push(
      db.prepare(`DELETE FROM operations WHERE rowid IN (SELECT rowid FROM operations WHERE at < ? LIMIT ${PRUNE_ROWS})`).bind(now - LOG_RETENTION_MS),
      db
        .prepare(`DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE updated_at < ? AND status != 'pending' LIMIT ${PRUNE_ROWS})`)
        .bind(now - DELIVERY_INDEX_RETENTION_MS),
    );
  }
  if (statements.length) await db.batch(statements);
}
