import { registryClient } from "../durable-objects/registry-client";
import { connectionObject } from "../durable-objects/stubs";
import { ApiError } from "../errors";
import type { LogCursor, LogQuery, OperationLog, OperationStatus, OperationType } from "./types";

/** A query without a connection reads every matching connection's object; past this many it must be narrowed. */
export const MAX_FANOUT = 100;
/** Objects asked at once: quick, and well under the subrequest concurrency limits. */
const FANOUT_BATCH = 10;

export type LogsRequest = {
  connection_id?: string;
  provider_config_key?: string;
  type?: OperationType;
  /** `success`, `failure`, or an HTTP status code. */
  status?: string;
  limit: number;
  cursor?: string;
};

export function encodeLogCursor(c: LogCursor): string {
  return btoa(JSON.stringify([c.at, c.id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeLogCursor(cursor: string): LogCursor {
  try {
    const raw: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (Array.isArray(raw) && typeof raw[0] === "number" && typeof raw[1] === "string") return { at: raw[0], id: raw[1] };
  } catch {
    // fall through
  }
  throw new ApiError(400, "invalid_cursor", "cursor is not a next_cursor this API returned");
}

function statusFilter(status: string | undefined): Pick<LogQuery, "status" | "http_status"> {
  if (status === undefined) return {};
  if (status === "success" || status === "failure") return { status: status as OperationStatus };
  if (/^[1-5]\d\d$/.test(status)) return { http_status: Number(status) };
  throw new ApiError(400, "invalid_request", "status: must be success, failure or an HTTP status code");
}

/** The connections whose logs a request reads: one, or every one matching the filters (bounded). */
async function targets(env: Env, req: LogsRequest): Promise<Array<[string, string]>> {
  if (req.connection_id !== undefined && req.provider_config_key !== undefined) return [[req.provider_config_key, req.connection_id]];
  const page = await registryClient(env).listConnections({
    provider_config_key: req.provider_config_key,
    connection_id: req.connection_id,
    limit: MAX_FANOUT,
  });
  if (!page) return [];
  if (page.next_cursor !== null)
    throw new ApiError(400, "too_many_connections", `More than ${MAX_FANOUT} connections match: pass connection_id (and provider_config_key)`);
  return page.connections.map((c) => [c.provider_config_key, c.connection_id]);
}

/** Newest first across the matching connections, keyset-paginated on (time, id). */
export async function queryLogs(env: Env, req: LogsRequest): Promise<{ logs: OperationLog[]; next_cursor: string | null }> {
  const query: LogQuery = {
    ...(req.type ? { type: req.type } : {}),
    ...statusFilter(req.status),
    limit: req.limit + 1,
    ...(req.cursor ? { before: decodeLogCursor(req.cursor) } : {}),
  };
  const list = await targets(env, req);
  const found: OperationLog[] = [];
  for (let i = 0; i < list.length; i += FANOUT_BATCH) {
    const pages = await Promise.all(list.slice(i, i + FANOUT_BATCH).map(([pck, id]) => connectionObject(env, pck, id).queryLogs(query)));
    for (const p of pages) found.push(...p);
  }
  const key = (l: OperationLog) => Date.parse(l.created_at);
  found.sort((a, b) => key(b) - key(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const logs = found.slice(0, req.limit);
  const last = logs[logs.length - 1];
  return { logs, next_cursor: found.length > req.limit && last ? encodeLogCursor({ at: key(last), id: last.id }) : null };
}
