import type { Ctx } from "./http.ts";
import { errorBody, sendBytes, sendJson } from "./http.ts";
import type { Tenant } from "./state.ts";
import { num, sleep, str } from "./util.ts";
import type { Obj } from "./util.ts";

export interface Fault {
  count: number;
  status?: number;
  body?: unknown;
  latency_ms?: number;
  drop?: "connect" | "mid-stream";
  method?: string;
  path_prefix?: string;
}

export function parseFault(o: Obj): Fault | string {
  const count = num(o, "count") ?? 1;
  const drop = str(o, "drop");
  if (drop !== undefined && drop !== "connect" && drop !== "mid-stream") return "drop must be 'connect' or 'mid-stream'";
  const f: Fault = {
    count,
    status: num(o, "status"),
    body: o.body,
    latency_ms: num(o, "latency_ms"),
    drop,
    method: str(o, "method")?.toUpperCase(),
    path_prefix: str(o, "path_prefix"),
  };
  if (f.status === undefined && f.latency_ms === undefined && f.drop === undefined) return "one of status, latency_ms, drop is required";
  return f;
}

/** Takes (and consumes) the first fault matching this request. */
export function takeFault(t: Tenant, method: string, path: string): Fault | null {
  const list = t.faults;
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    if (f.method && f.method !== method) continue;
    if (f.path_prefix && !path.startsWith(f.path_prefix)) continue;
    if (--f.count <= 0) list.splice(i, 1);
    return f;
  }
  return null;
}

const DEFAULT_BODIES: Record<number, [string, string, string | null]> = {
  400: ["Invalid request (injected fault).", "invalid_request_error", null],
  401: ["Incorrect API key provided.", "invalid_request_error", "invalid_api_key"],
  403: ["You are not allowed to perform this operation.", "invalid_request_error", null],
  404: ["Not found (injected fault).", "invalid_request_error", null],
  408: ["Request timed out.", "timeout", null],
  409: ["Conflict (injected fault).", "invalid_request_error", null],
  429: ["Rate limit reached (injected fault). Please try again in 1s.", "requests", "rate_limit_exceeded"],
  500: ["The server had an error while processing your request. Sorry about that!", "server_error", null],
  502: ["Bad gateway.", "server_error", null],
  503: ["The server is overloaded or not ready yet.", "server_error", null],
  504: ["Gateway timeout.", "server_error", null],
};

/**
 * Applies a fault. Returns true when the request is fully handled (status
 * answered or connection dropped); false to continue normally (latency only,
 * or mid-stream drop which the response writers honour).
 */
export async function applyFault(ctx: Ctx, f: Fault): Promise<boolean> {
  if (f.latency_ms) await sleep(f.latency_ms);
  if (f.drop === "connect") {
    if (ctx.log) ctx.log.status = 0;
    ctx.req.socket.destroy();
    return true;
  }
  if (f.drop === "mid-stream") ctx.dropMidStream = true;
  if (f.status !== undefined) {
    const d = DEFAULT_BODIES[f.status] ?? ["Injected fault.", f.status >= 500 ? "server_error" : "invalid_request_error", null];
    const body = f.body !== undefined ? f.body : errorBody(d[0], d[1], null, d[2]);
    const extra: Record<string, string> = f.status === 429 ? { "retry-after": "1" } : {};
    if (typeof body === "string") sendBytes(ctx, f.status, body, "application/json", extra);
    else sendJson(ctx, f.status, body, extra);
    return true;
  }
  return false;
}
