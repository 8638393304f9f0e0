import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "./events";
import { PriceOverrideSchema } from "../usage/price-schema";

/** Shared response and request shapes of the webhook routes (also the outbox's RPC types). */

const webhookUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:";
    } catch {
      return false;
    }
  }, "must be an absolute http:// or https:// URL");

export const EnvironmentSchema = z
  .object({
    webhook_url: z.string().nullable().openapi({ example: "https://example.com/terapi/webhooks" }),
    secondary_webhook_url: z.string().nullable(),
    webhook_secret: z.string().openapi({ description: "Standard Webhooks secret (`whsec_…`) that signs every outgoing webhook", example: "whsec_…" }),
    webhook_secret_created_at: z.string().openapi({ description: "ISO 8601" }),
    reveal_credentials: z.boolean().openapi({
      description:
        "When true, `GET /connections/{id}` returns the key in clear (what Nango's `getToken` reads). Off by default: a leaked secret key then cannot read every tenant's key.",
    }),
    usage_prices: PriceOverrideSchema.nullable().openapi({ description: "The environment's own model prices for usage costs (null: the providers' lists)" }),
  })
  .openapi("Environment");
export type EnvironmentSettings = z.infer<typeof EnvironmentSchema>;

export const EnvironmentPatchSchema = z
  .object({
    webhook_url: webhookUrl.nullable().optional().openapi({ description: "null removes it" }),
    secondary_webhook_url: webhookUrl.nullable().optional(),
    reveal_credentials: z.boolean().optional(),
    usage_prices: PriceOverrideSchema.nullable().optional().openapi({ description: "Model prices for usage costs; null goes back to the providers' lists" }),
  })
  .strict()
  .openapi("EnvironmentPatch");
export type EnvironmentPatch = z.infer<typeof EnvironmentPatchSchema>;

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    started_at: z.string(),
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable(),
    response_snippet: z.string().nullable().openapi({ description: "At most the first 1 KB of the response body" }),
    error: z.string().nullable(),
    outcome: z.enum(["delivered", "retry", "failed"]),
  })
  .openapi("WebhookAttempt");
export type AttemptView = z.infer<typeof AttemptSchema>;

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: "whd_3f2a…" }),
    event_id: z.string().openapi({ description: "Also the `webhook-id` header", example: "evt_9c1b…" }),
    type: z.enum(EVENT_TYPES),
    connection_id: z.string(),
    provider_config_key: z.string(),
    endpoint: z.enum(["primary", "secondary"]),
    url: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    deadline_at: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
  })
  .openapi("WebhookDelivery");
export type DeliveryView = z.infer<typeof DeliverySchema>;

export const DeliveryDetailSchema = DeliverySchema.extend({
  attempts: z.array(AttemptSchema),
  event: z.record(z.string(), z.unknown()).openapi({ description: "The body that is sent" }),
}).openapi("WebhookDeliveryDetail");
export type DeliveryDetail = z.infer<typeof DeliveryDetailSchema>;

export const DeliveryListQuerySchema = z.strictObject({
  status: z.enum(DELIVERY_STATUSES).optional(),
  type: z.enum(EVENT_TYPES).optional(),
  connection_id: z.string().min(1).optional(),
  provider_config_key: z.string().min(1).optional().openapi({ description: "With connection_id: that connection's own deliveries, current" }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, "invalid cursor")
    .optional(),
});
export type DeliveryListQuery = z.infer<typeof DeliveryListQuerySchema>;

export const DeliveryListSchema = z.object({ data: z.array(DeliverySchema), next_cursor: z.string().nullable() }).openapi("WebhookDeliveryList");
export type DeliveryList = z.infer<typeof DeliveryListSchema>;
