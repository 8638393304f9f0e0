import { ApiError } from "../errors";
import { recordOperation, type WaitUntil } from "./record";

type ProxyCall = {
  providerConfigKey: string;
  connectionId: string;
  method: string;
  /** The upstream path, without the query string. */
  path: string;
  started: number;
  stats: { retries: number; waitMs: number };
};

/**
 * Records a proxied call once its response headers are known (a stream is
 * logged when it starts, not when it ends): `.then(logged.response, logged.error)`.
 */
export function proxyLogger(env: Env, waitUntil: WaitUntil, call: ProxyCall) {
  const record = (status: number | null, requestId: string | null, detail: string | null) =>
    recordOperation(env, waitUntil, {
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
    });
  return {
    response(res: Response): Response {
      record(res.status, res.headers.get("x-request-id"), null);
      return res;
    },
    error(err: unknown): never {
      if (err instanceof ApiError) record(err.status, null, err.code);
      else record(null, null, err instanceof Error ? err.name : "error");
      throw err;
    },
  };
}
