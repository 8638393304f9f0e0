import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { payloadTooLarge } from "../errors";
import { createRouter } from "../openapi";
import { INBOUND_WEBHOOK_MAX_BYTES, receiveWebhook } from "../webhooks/inbound-http";
import { ErrorSchema } from "./schemas";

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
  const body = new Uint8Array(await c.req.arrayBuffer());
  return c.json(await receiveWebhook(c.env, c.executionCtx, provider_config_key, connection_id, c.req.raw, body), 200);
});
