import { ApiError } from "../errors";
import { recordOperation, type WaitUntil } from "../logs/record";

export type ActionCallStats = { retries: number; waitMs: number; requestId: string | null };

/**
 * One operation-log line per synchronous action run (the action's name as the
 * detail, the provider's request id), written in the background like the
 * proxy's: `.then(logged.output, logged.error)`.
 */
export function actionLogger(env: Env, waitUntil: WaitUntil, run: { providerConfigKey: string; connectionId: string; action: string; stats: ActionCallStats }) {
  const started = Date.now();
  const record = (ok: boolean, status: number | null, detail: string) =>
    recordOperation(env, waitUntil, {
      provider_config_key: run.providerConfigKey,
      connection_id: run.connectionId,
      type: "action",
      status: ok ? "success" : "failure",
      http_status: status,
      duration_ms: Date.now() - started,
      started_at: started,
      retries: run.stats.retries,
      wait_ms: run.stats.waitMs,
      request_id: run.stats.requestId,
      detail,
    });
  return {
    output<T>(output: T): T {
      record(true, 200, run.action);
      return output;
    },
    error(err: unknown): never {
      record(false, err instanceof ApiError ? err.status : null, `${run.action}: ${err instanceof ApiError ? err.code : "error"}`);
      throw err;
    },
  };
}
