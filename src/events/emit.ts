import { connectionObject } from "../bindings/stubs";
import type { EnqueueResult } from "../webhooks/delivery-queue";
import type { OutgoingEventInput } from "../webhooks/events";

/**
 * The one way any feature sends an outgoing webhook (`auth`, `sync`, `forward`,
 * `async_action`, `async_proxy`): one RPC to the object of the connection the
 * event is about, which stores the event and a delivery per configured URL and
 * then delivers it at least once. No environment-wide object on the way.
 * Resolves once the event is durably stored, not when it is delivered.
 */
export function emitEvent(env: Env, event: OutgoingEventInput): Promise<EnqueueResult> {
  return connectionObject(env, event.provider_config_key, event.connection_id).enqueueEvent(event);
}
