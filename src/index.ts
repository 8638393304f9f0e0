import { createApp } from "./app";
import { consumeIndexBatch } from "./ops-index/consumer";
import type { IndexMessage } from "./ops-index/messages";

export { Registry } from "./durable-objects/registry";
export { ConnectionObject } from "./durable-objects/connection";
export { WebhookOutbox } from "./durable-objects/outbox";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: consumeIndexBatch,
} satisfies ExportedHandler<Env, IndexMessage>;
