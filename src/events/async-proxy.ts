/**
 * "async_proxy" events: a background proxy call finished (completed or
 * failed). The hook the outgoing-webhooks issue delivers from; the event
 * carries the job's id and outcome, never credentials or bodies.
 */
export type AsyncProxyEvent = {
  type: "async_proxy";
  id: string;
  provider_config_key: string;
  connection_id: string;
  status: "completed" | "failed";
  response_status: number | null;
  error: string | null;
  at: string;
};

/** Emits an async_proxy event. A no-op until outgoing webhooks land; must never throw into the job. */
export async function emitAsyncProxyEvent(_env: Env, _event: AsyncProxyEvent): Promise<void> {
  // Intentionally empty until outgoing webhooks land.
}
