import { createRoute, z } from "@hono/zod-openapi";
import { outboxObject } from "../durable-objects/stubs";
import { ApiError } from "../errors";
import { createRouter } from "../openapi";
import { DeliveryDetailSchema, DeliveryListQuerySchema, DeliveryListSchema, ErrorSchema } from "../webhooks/schemas";

const idParams = z.object({ id: z.string().min(1).openapi({ example: "whd_3f2a…" }) });
const notFoundResponse = { description: "Unknown delivery", content: { "application/json": { schema: ErrorSchema } } };

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["Webhooks"],
  summary: "Outgoing webhook deliveries, newest first",
  description:
    "One delivery per event and configured URL (primary, secondary), stored before its first attempt. Retried on network errors, " +
    "timeouts (10 s), 5xx and 429 (honouring Retry-After) with exponential backoff and full jitter for 24 hours, then `failed`. " +
    "Other 4xx fail at once; redirects are not followed and fail at once (fix the URL, then redeliver). Same `webhook-id` on every attempt.",
  request: { query: DeliveryListQuerySchema },
  responses: { 200: { description: "One page; pass next_cursor as cursor for the next", content: { "application/json": { schema: DeliveryListSchema } } } },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["Webhooks"],
  summary: "One delivery with every attempt (status, duration, response snippet, error) and the body sent",
  request: { params: idParams },
  responses: { 200: { description: "The delivery", content: { "application/json": { schema: DeliveryDetailSchema } } }, 404: notFoundResponse },
});

const redeliver = createRoute({
  method: "post",
  path: "/{id}/redeliver",
  tags: ["Webhooks"],
  summary: "Send a delivery again now (same webhook-id), with a fresh 24-hour retry window",
  request: { params: idParams },
  responses: { 200: { description: "The delivery, pending again", content: { "application/json": { schema: DeliveryDetailSchema } } }, 404: notFoundResponse },
});

const unknownDelivery = (id: string) => new ApiError(404, "unknown_delivery", `No webhook delivery ${id}`);

/** `/webhook-deliveries`: what was sent to the user's webhook URLs, and how each attempt went. */
export const webhookDeliveryRoutes = createRouter()
  .openapi(list, async (c) => c.json(await outboxObject(c.env).listDeliveries(c.req.valid("query")), 200))
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const delivery = await outboxObject(c.env).getDelivery(id);
    if (!delivery) throw unknownDelivery(id);
    return c.json(delivery, 200);
  })
  .openapi(redeliver, async (c) => {
    const { id } = c.req.valid("param");
    const delivery = await outboxObject(c.env).redeliver(id);
    if (!delivery) throw unknownDelivery(id);
    return c.json(delivery, 200);
  });
