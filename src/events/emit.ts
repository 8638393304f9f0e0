import { outboxObject } from "../durable-objects/stubs";
import type { EnqueueResult } from "../durable-objects/outbox";
import type { OutgoingEventInput } from "../webhooks/events";

export type { EventType, OutgoingEventInput } from "../webhooks/events";

/**
 * The one way any feature sends an outgoing webhook (`auth`, `sync`, `forward`,
 * `async_action`, `async_proxy`): one RPC that stores the event and a delivery
 * per configured URL in the outbox, which then delivers it at least once.
 * Resolves once the event is durably stored, not when it is delivered.
 */
export function emitEvent(env: Env, event: OutgoingEventInput): Promise<EnqueueResult> {
  return outboxObject(env).enqueue(event);
}
