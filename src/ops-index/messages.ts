import type { LogEntry } from "../logs/store";

/** A delivery's latest state as the environment-wide index keeps it (its attempts stay in the connection's object). */
export type DeliveryIndexRow = {
  id: string;
  event_id: string;
  type: string;
  connection_id: string;
  provider_config_key: string;
  endpoint: string;
  url: string;
  status: string;
  attempt_count: number;
  next_attempt_at: number | null;
  deadline_at: number;
  created_at: number;
  updated_at: number;
  last_status_code: number | null;
  last_error: string | null;
  /** Orders the states of one delivery: a state with a lower rev arriving late is ignored. */
  rev: number;
};

/** One INDEX_QUEUE message: lines and delivery states from one connection object's flush. */
export type IndexMessage = { logs: LogEntry[]; deliveries: DeliveryIndexRow[] };

/** One item the feed batches. */
export type IndexItem = { log: LogEntry } | { delivery: DeliveryIndexRow };
