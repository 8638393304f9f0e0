import type { LogEntry } from "../logs/store";
import type { IndexRow } from "../usage/store";
import type { DeliveryRow } from "../webhooks/delivery-queue";

/** A delivery's latest state as the environment-wide index keeps it (its attempts stay in the connection's object). */
export type DeliveryIndexRow = Omit<DeliveryRow, "seq"> & {
  /** Orders the states of one delivery: a state with a lower rev arriving late is ignored. */
  rev: number;
};

/**
 * One connection's changed usage days (absolute sums, as its ledger holds them), copied to the
 * environment's usage index (src/usage/index-db.ts). `at`: when the ledger sent them; a day row
 * arriving late with an older `at` is ignored.
 */
export type UsageIndexItem = { provider_config_key: string; connection_id: string; at: number; rows: IndexRow[] };

/**
 * One INDEX_QUEUE message: lines and delivery states from one connection object's flush, or a
 * connection's usage days (`usage`, absent in messages sent before it existed).
 */
export type IndexMessage = { logs: LogEntry[]; deliveries: DeliveryIndexRow[]; usage?: UsageIndexItem[] };

/** One item the feed batches. */
export type IndexItem = { log: LogEntry } | { delivery: DeliveryIndexRow };
