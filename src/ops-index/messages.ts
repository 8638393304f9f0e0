import type { LogEntry } from "../logs/store";
import type { DeliveryRow } from "../webhooks/delivery-queue";

/** A delivery's latest state as the environment-wide index keeps it (its attempts stay in the connection's object). */
export type DeliveryIndexRow = Omit<DeliveryRow, "seq"> & {
  /** Orders the states of one delivery: a state with a lower rev arriving late is ignored. */
  rev: number;
};

/** One INDEX_QUEUE message: lines and delivery states from one connection object's flush. */
export type IndexMessage = { logs: LogEntry[]; deliveries: DeliveryIndexRow[] };

/** One item the feed batches. */
export type IndexItem = { log: LogEntry } | { delivery: DeliveryIndexRow };
