import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestLog, SimState, Tenant } from "./state.ts";
import type { Obj } from "./util.ts";

/** Everything one data-plane request carries through the pipeline. */
export interface Ctx {
  sim: SimState;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  rawQuery: string;
  query: URLSearchParams;
  params: Record<string, string>;
  key: string;
  tenant: Tenant;
  body: Buffer;
  json: Obj;
  started: number;
  requestId: string;
  rlHeaders: Record<string, string> | null;
  dropMidStream: boolean;
  log: RequestLog | null;
}

export type Handler = (ctx: Ctx) => void | Promise<void>;

export interface Route {
  method: string;
  path: string;
  handler: Handler;
  /** Parse the body as JSON into ctx.json (400 on bad JSON). Default true for POST. */
  json?: boolean;
  /**
   * Set on the endpoints that take a `model`: a request whose JSON body names one is charged to that
   * model's limit bucket, this many tokens up front. Without it (or without a `model`) a request is
   * charged to its endpoint's bucket, 0 tokens.
   */
  tokens?: (body: Obj, charsPerToken: number) => number;
  admin?: boolean;
}

function headersFor(ctx: Ctx, status: number, extra: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = {
    "x-request-id": ctx.requestId,
    "openai-version": "2020-10-01",
    "openai-processing-ms": String(Date.now() - ctx.started),
    ...ctx.rlHeaders,
    ...extra,
  };
  if (ctx.tenant) h["openai-organization"] = ctx.tenant.orgId;
  if (ctx.log) ctx.log.status = status;
  return h;
}

export function writeHead(ctx: Ctx, status: number, extra: Record<string, string>): void {
  ctx.res.writeHead(status, headersFor(ctx, status, extra));
}

/** Sends a body; with a mid-stream drop fault, sends half of it and destroys the socket. */
export function sendBytes(ctx: Ctx, status: number, body: Buffer | string, contentType: string, extra: Record<string, string> = {}): void {
  const buf = typeof body === "string" ? Buffer.from(body) : body;
  if (ctx.dropMidStream) {
    writeHead(ctx, status, { "content-type": contentType, "content-length": String(buf.length), ...extra });
    ctx.res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => ctx.res.destroy());
    return;
  }
  writeHead(ctx, status, { "content-type": contentType, "content-length": String(buf.length), ...extra });
  ctx.res.end(buf);
}

export function sendJson(ctx: Ctx, status: number, obj: unknown, extra: Record<string, string> = {}): void {
  sendBytes(ctx, status, JSON.stringify(obj), "application/json", extra);
}

export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null): object {
  return { error: { message, type, param, code } };
}

export function sendError(
  ctx: Ctx,
  status: number,
  message: string,
  type = "invalid_request_error",
  param: string | null = null,
  code: string | null = null,
  extra: Record<string, string> = {},
): void {
  sendJson(ctx, status, errorBody(message, type, param, code), extra);
}

export function notFound(ctx: Ctx, objectName: string, id: string, param: string): void {
  sendError(ctx, 404, `No such ${objectName} object: ${id}`, "invalid_request_error", param, null);
}

export function missingParam(ctx: Ctx, name: string): void {
  sendError(ctx, 400, `Missing required parameter: '${name}'.`, "invalid_request_error", name, "missing_required_parameter");
}

/** Parses limit (1..max, default def) from the query; returns null after sending a 400. */
export function parseLimit(ctx: Ctx, def: number, max: number): number | null {
  const raw = ctx.query.get("limit");
  if (raw === null) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    sendError(ctx, 400, `Invalid 'limit': integer must be between 1 and ${max}, got ${raw}.`, "invalid_request_error", "limit", "integer_out_of_range");
    return null;
  }
  return n;
}

/** OpenAI's cursor list envelope. */
export function listBody<T extends { id: string }>(data: T[], has_more: boolean, strip: (t: T) => object = (t) => t): object {
  return {
    object: "list",
    data: data.map(strip),
    first_id: data.length ? data[0].id : null,
    last_id: data.length ? data[data.length - 1].id : null,
    has_more,
  };
}
