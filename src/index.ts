import { toErrorResponse } from "./errors";
import { authorizeSecretKey } from "./middleware/secret-key-auth";
import { consumeIndexBatch } from "./ops-index/consumer";
import type { IndexMessage } from "./ops-index/messages";
import { proxyFastPath } from "./proxy/handler";
import { inboundWebhookFastPath } from "./webhooks/inbound-http";

export { Registry } from "./durable-objects/registry";
export { ConnectionObject } from "./durable-objects/connection";
export { WebhookOutbox } from "./durable-objects/outbox";

type App = ReturnType<typeof import("./app").createApp>;

/**
 * The router (every other route, its OpenAPI machinery) is built on the first
 * request that needs it, not when the isolate starts: a fresh isolate's first
 * proxied call does not wait for it. (The bundler evaluates a dynamically
 * imported module on demand.) Each request awaits its own import.
 */
let app: App | undefined;
async function routed(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  app ??= (await import("./app")).createApp();
  return app.fetch(req, env, ctx);
}

export default {
  // Proxied calls and inbound webhooks skip the router (same checks, handlers and errors); everything else goes through it.
  fetch: (req, env, ctx) =>
    proxyFastPath(req, env, ctx, authorizeSecretKey, (err) => toErrorResponse(err, env)) ??
    inboundWebhookFastPath(req, env, ctx, (err) => toErrorResponse(err, env)) ??
    routed(req, env, ctx),
  queue: consumeIndexBatch,
} satisfies ExportedHandler<Env, IndexMessage>;
