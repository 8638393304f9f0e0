import { ApiError } from "../errors";
import { recordCall, type WaitUntil } from "./record";
import type { OperationInput } from "./types";
import type { UsageSample } from "../usage/types";

export type ProxyCall = {
  providerConfigKey: string;
  connectionId: string;
  method: string;
  /** The upstream path, without the query string. */
  path: string;
  started: number;
  stats: { retries: number; waitMs: number };
};

function lineOf(call: ProxyCall, status: number | null, requestId: string | null, detail: string | null): OperationInput {
  return {
    provider_config_key: call.providerConfigKey,
    connection_id: call.connectionId,
    type: "proxy",
    status: status !== null && status < 400 ? "success" : "failure",
    http_status: status,
    duration_ms: Date.now() - call.started,
    started_at: call.started,
    retries: call.stats.retries,
    wait_ms: call.stats.waitMs,
    request_id: requestId,
    method: call.method,
    path: call.path,
    detail,
  };
}

/**
 * Records a proxied call with its usage, as one buffered record: once its
 * response headers are known (a stream is logged when it starts, not when it
 * ends), or a small answer once it has been collected. `cut`: the answer's
 * headers went back but upstream cut its body: a failure.
 */
export function logProxyAnswer(env: Env, waitUntil: WaitUntil, call: ProxyCall, res: Response, usage: UsageSample | null, cut = false): void {
  const line = lineOf(call, res.status, res.headers.get("x-request-id"), cut ? "upstream_unreachable" : null);
  if (cut) line.status = "failure";
  recordCall(env, waitUntil, line, usage);
}

/** Records a proxied call that ended in an error (terapi's own, or no answer at all). */
export function logProxyFailure(env: Env, waitUntil: WaitUntil, call: ProxyCall, err: unknown): void {
  const line = err instanceof ApiError ? lineOf(call, err.status, null, err.code) : lineOf(call, null, null, err instanceof Error ? err.name : "error");
  recordCall(env, waitUntil, line, null);
}
