import { connectionObject } from "../bindings/stubs";
import { decodeCursor, encodeCursor } from "../cursor";
import { ApiError, invalidCursor } from "../errors";
import { queryIndexLogs } from "../ops-index/read";
import type { LogCursor, LogQuery, OperationLog, OperationStatus, OperationType } from "./types";

type LogsRequest = {
  connection_id?: string;
  provider_config_key?: string;
  type?: OperationType;
  /** `success`, `failure`, or an HTTP status code. */
  status?: string;
  limit: number;
  cursor?: string;
};

/** Keyset on (time, id), newest first: the log's and the index's lists (src/cursor.ts). */
export const encodeLogCursor = (c: LogCursor): string => encodeCursor([c.at, c.id]);

export function decodeLogCursor(cursor: string): LogCursor {
  const key = decodeCursor(cursor, ["number", "string"]);
  if (!key) throw invalidCursor();
  return { at: key[0], id: key[1] };
}

function statusFilter(status: string | undefined): Pick<LogQuery, "status" | "http_status"> {
  if (status === undefined) return {};
  if (status === "success" || status === "failure") return { status: status as OperationStatus };
  if (/^[1-5]\d\d$/.test(status)) return { http_status: Number(status) };
  throw new ApiError(400, "invalid_request", "status: must be success, failure or an HTTP status code");
}

/**
 * Newest first, keyset-paginated on (time, id). One connection (both keys
 * given) is read from its own object, the source of truth; anything wider
 * from the environment-wide index in D1 (a few seconds behind, see
 * src/ops-index/feed.ts), however many connections there are.
 */
export async function queryLogs(env: Env, req: LogsRequest): Promise<{ logs: OperationLog[]; next_cursor: string | null }> {
  const query: LogQuery = {
    ...(req.type ? { type: req.type } : {}),
    ...statusFilter(req.status),
    limit: req.limit + 1,
    ...(req.cursor ? { before: decodeLogCursor(req.cursor) } : {}),
  };
  const found =
    req.connection_id !== undefined && req.provider_config_key !== undefined
      ? await connectionObject(env, req.provider_config_key, req.connection_id).queryLogs(query)
      : await queryIndexLogs(env.INDEX_DB, { provider_config_key: req.provider_config_key, connection_id: req.connection_id }, query);
  const logs = found.slice(0, req.limit);
  const last = logs[logs.length - 1];
  return { logs, next_cursor: found.length > req.limit && last ? encodeLogCursor({ at: Date.parse(last.created_at), id: last.id }) : null };
}
