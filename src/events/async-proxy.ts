import type { FinishedStatus } from "../jobs/status";
import { emitEvent } from "./emit";

/**
 * "async_proxy" events: a background proxy call finished (completed,
 * failed, or interrupted: cut off by a restart and not sent again). Carries the job's id and outcome, never credentials or bodies: the
 * result is at the job's status URL.
 */
type AsyncProxyEvent = {
  id: string;
  provider_config_key: string;
  connection_id: string;
  provider: string;
  status: FinishedStatus;
  response_status: number | null;
  error: string | null;
};

/** Hands the event to the outbox (stored, then delivered at least once). */
export async function emitAsyncProxyEvent(env: Env, event: AsyncProxyEvent): Promise<void> {
  const { provider_config_key, connection_id, provider, ...payload } = event;
  await emitEvent(env, { type: "async_proxy", provider_config_key, connection_id, provider, payload });
}
