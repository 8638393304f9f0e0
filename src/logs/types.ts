/** What the operation log records: one line per operation, never a body nor a secret. */
export type OperationType = "proxy" | "sync" | "action" | "webhook" | "delivery";
export const OPERATION_TYPES = ["proxy", "sync", "action", "webhook", "delivery"] as const satisfies readonly OperationType[];

/** The outcome: the operation did what was asked, or not. `http_status` tells the details. */
export type OperationStatus = "success" | "failure";
export const OPERATION_STATUSES = ["success", "failure"] as const satisfies readonly OperationStatus[];

/** What a feature hands to `recordOperation`. */
export type OperationInput = {
  provider_config_key: string;
  connection_id: string;
  type: OperationType;
  status: OperationStatus;
  /** The HTTP status that decided the outcome (upstream's, or terapi's own error), when there is one. */
  http_status?: number | null;
  duration_ms: number;
  /** Attempts beyond the first. */
  retries?: number;
  /** Time spent waiting: for the rate limit's reset, a backoff, or the connection's object. */
  wait_ms?: number;
  /** The provider's `x-request-id`, so a user can quote it to the provider. */
  request_id?: string | null;
  method?: string | null;
  /** Path only: a query string may carry things that do not belong in a log. */
  path?: string | null;
  /** A short label: error code, event type, sync or action name. Never a body. */
  detail?: string | null;
  /** When it started (ms since the epoch); defaults to now minus the duration. */
  started_at?: number;
  /**
   * Lines anyone can cause (an unauthenticated webhook): identical ones within
   * a minute become one line with a count, so they cannot push real operations out.
   */
  aggregate?: boolean;
};

/** One stored line, as `GET /logs` returns it. */
export type OperationLog = {
  id: string;
  provider_config_key: string;
  connection_id: string;
  type: OperationType;
  status: OperationStatus;
  http_status: number | null;
  duration_ms: number;
  retries: number;
  wait_ms: number;
  request_id: string | null;
  method: string | null;
  path: string | null;
  detail: string | null;
  created_at: string;
};

/** A filter on one connection's log; `before` is the keyset cursor (exclusive). */
export type LogQuery = {
  type?: OperationType;
  status?: OperationStatus;
  http_status?: number;
  limit: number;
  before?: LogCursor;
};

/** Newest first, over (started_at, id): stable while lines are added. */
export type LogCursor = { at: number; id: string };
