import { createApp } from "./app";

export { Registry } from "./durable-objects/registry";
export { ConnectionObject } from "./durable-objects/connection";
export { WebhookOutbox } from "./durable-objects/outbox";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
