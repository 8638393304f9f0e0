import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { ApiError, payloadTooLarge } from "../errors";
import { createRouter } from "../openapi";
import { handleInboundWebhook, WebhookRefused } from "../webhooks/inbound";
import { recordOperation } from "../logs/record";
import { ErrorSchema } from "./schemas";

/** Provider webhooks are small (OpenAI's carry ids, not objects). */
const INBOUND_WEBHOOK_MAX_BYTES = 256 * 1024;

/** Every unauthenticated failure gets exactly this answer. */
const notAuthenticated = () => new ApiError(401, "invalid_signature", "Webhook signature verification failed");

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

const receive = createRoute({
  method: "post",
  path: "/webhook/{provider_config_key}/{connection_id}",
  tags: ["Webhooks"],
  summary: "Receive a provider webhook (no secret key: the Standard Webhooks signature authenticates it)",
  description:
    "Verified against the connection's `connection_config.webhook_secret` (`whsec_…`, HMAC-SHA256 over `id.timestamp.body`, 5-minute tolerance). " +
    "A repeated `webhook-id` is answered 200 and not processed again. Verified events are forwarded to the environment's webhook URLs as `forward` events " +
    "and trigger the syncs they concern.",
  middleware: [
    bodyLimit({
      maxSize: INBOUND_WEBHOOK_MAX_BYTES,
      onError: () => {
        throw payloadTooLarge("Webhook body", INBOUND_WEBHOOK_MAX_BYTES);
      },
    }),
  ] as const,
  request: {
    params: z.object({ provider_config_key: z.string().min(1), connection_id: z.string().min(1) }),
    // Not a zod schema on purpose: the body must reach the verifier byte for byte, unparsed.
    body: { required: true, content: { "application/json": { schema: { type: "object", description: "The provider's event, unchanged" } } } },
  },
  responses: {
    200: {
      description: "Accepted (also for a repeated webhook-id, with `duplicate: true`)",
      content: {
        "application/json": {
          schema: z.object({ received: z.literal(true), duplicate: z.boolean(), event_id: z.string(), event_type: z.string() }),
        },
      },
    },
    400: errorResponse("Body is not JSON (checked once the signature is)"),
    401: errorResponse(
      "Not authenticated: `invalid_signature`, one answer whatever the reason (unknown connection, no webhook_secret, bad or stale signature, missing headers); the reason is in the connection's operation log",
    ),
    413: errorResponse("Body too large"),
  },
});

export const inboundWebhookRoutes = createRouter().openapi(receive, async (c) => {
  const { provider_config_key, connection_id } = c.req.valid("param");
  const started = Date.now();
  const log = (status: number, detail: string, aggregate = false) =>
    recordOperation(c.env, (p) => c.executionCtx.waitUntil(p), {
      provider_config_key,
      connection_id,
      type: "webhook",
      status: status < 400 ? "success" : "failure",
      http_status: status,
      duration_ms: Date.now() - started,
      started_at: started,
      method: "POST",
      detail,
      aggregate,
    });
  const body = new Uint8Array(await c.req.arrayBuffer());
  let result;
  try {
    result = await handleInboundWebhook(c.env, c.executionCtx, {
      providerConfigKey: provider_config_key,
      connectionId: connection_id,
      headers: c.req.raw.headers,
      body,
      receivedAt: started,
    });
  } catch (err) {
    if (err instanceof WebhookRefused) {
      // The reason goes to the log only (an unknown connection has none), counted per minute: anyone can send these.
      if (err.known) log(401, `invalid_signature: ${err.reason}`, true);
      throw notAuthenticated();
    }
    if (err instanceof ApiError) log(err.status, err.code);
    throw err;
  }
  // The accepted webhook's log line was written by the connection's object, with the event.
  return c.json({ received: true as const, ...result }, 200);
});
