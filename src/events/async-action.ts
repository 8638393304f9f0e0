import type { ACTION_RUN_STATUS, FinishedStatus } from "../jobs/status";
import { emitEvent } from "./emit";

/**
 * "async_action" events: an action run with `X-Async: true` finished. Carries
 * the run's id and outcome, never the output (it can be large): that stays at
 * `GET /action/:id`.
 */
type AsyncActionEvent = {
  id: string;
  action_name: string;
  provider_config_key: string;
  connection_id: string;
  provider: string;
  /** `interrupted`: cut off by a restart while a call was at the provider, and not sent again. */
  status: (typeof ACTION_RUN_STATUS)[FinishedStatus];
  error: { code: string; message: string } | null;
};

export async function emitAsyncActionEvent(env: Env, event: AsyncActionEvent): Promise<void> {
  const { provider_config_key, connection_id, provider, ...payload } = event;
  await emitEvent(env, { type: "async_action", provider_config_key, connection_id, provider, payload });
}
