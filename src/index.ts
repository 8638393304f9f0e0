import { createApp } from "./app";
import { toErrorResponse } from "./errors";
import { authorizeSecretKey } from "./middleware/secret-key-auth";
import { proxyFastPath } from "./routes/proxy";

export { Registry } from "./durable-objects/registry";
export { ConnectionObject } from "./durable-objects/connection";
export { WebhookOutbox } from "./durable-objects/outbox";

const app = createApp();

export default {
  // Proxied calls skip the router (same checks, handler and errors); everything else goes through it.
  fetch: (req, env, ctx) => proxyFastPath(req, env, ctx, authorizeSecretKey, toErrorResponse) ?? app.fetch(req, env, ctx),
} satisfies ExportedHandler<Env>;
