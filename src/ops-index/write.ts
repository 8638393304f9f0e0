import { LINE_COLUMNS, LOG_RETENTION_MS } from "../logs/store";
import type { DeliveryIndexRow, IndexMessage } from "./messages";

/** Finished deliveries are listed this long (as in the connection's object). */
const DELIVERY_INDEX_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** D1 binds at most 100 parameters per statement. */
const MAX_PARAMS = 100;
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

/** Multi-row INSERTs, each within D1's parameter limit. */
function inserts<T>(db: D1Database, head: string, tail: string, columns: readonly (keyof T)[], rows: T[]): D1PreparedStatement[] {
  const per = Math.floor(MAX_PARAMS / columns.length);
  const row = `(${columns.map(() => "?").join(", ")})`;
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const args = chunk.flatMap((r) => columns.map((c) => (r[c] ?? null) as unknown));
    out.push(db.prepare(`${head} (${columns.join(", ")}) VALUES ${chunk.map(() => row).join(", ")} ${tail}`).bind(...args));
  }
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
