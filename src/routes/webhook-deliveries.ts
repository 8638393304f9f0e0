import { createRoute, z } from "@hono/zod-openapi";
import { jobObject } from "../jobs/ids";
import { connectionObject } from "../bindings/stubs";
import { ApiError, invalidCursor } from "../errors";
import { decodeCursor, encodeCursor } from "../cursor";
import { decodeLogCursor, encodeLogCursor } from "../logs/query";
import { listIndexDeliveries } from "../ops-index/read";
import { createRouter } from "../openapi";
import { DeliveryDetailSchema, DeliveryListQuerySchema, DeliveryListSchema, type DeliveryList, type DeliveryListQuery } from "../webhooks/schemas";
import { ErrorSchema } from "./schemas";

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
    "Other 4xx fail at once; redirects are not followed and fail at once (fix the URL, then redeliver). Same `webhook-id` on every attempt. " +
    "With `provider_config_key` and `connection_id` the connection's own deliveries are read (current); otherwise the environment-wide " +
    "index, at most a few seconds (normally under 3 s) behind.",
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

/** The connection object holding a delivery (its id names it), or a 404. */
function deliveryObject(env: Env, id: string) {
  const stub = jobObject(env, "delivery", id);
  if (!stub) throw unknownDelivery(id);
  return stub;
}

/** One connection: its object (seq cursor). Wider: the environment-wide index (keyset cursor on creation time and id). */
async function listDeliveries(env: Env, query: DeliveryListQuery): Promise<DeliveryList> {
  const { provider_config_key, connection_id } = query;
  if (provider_config_key !== undefined && connection_id !== undefined) {
    // The object pages by its delivery sequence number; the cursor is the API's one encoding of it (src/cursor.ts).
    const seq = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ["number"])?.[0];
    if (query.cursor !== undefined && (seq === undefined || !Number.isSafeInteger(seq))) throw invalidCursor();
    const page = await connectionObject(env, provider_config_key, connection_id).listDeliveries({
      ...query,
      cursor: seq === undefined ? undefined : String(seq),
    });
    return { ...page, next_cursor: page.next_cursor === null ? null : encodeCursor([Number(page.next_cursor)]) };
  }
  const before = query.cursor !== undefined ? decodeLogCursor(query.cursor) : null;
  const rows = await listIndexDeliveries(env.INDEX_DB, { provider_config_key, connection_id }, query, before);
  const data = rows.slice(0, query.limit);
  const last = data[data.length - 1];
  return { data, next_cursor: rows.length > query.limit && last ? encodeLogCursor({ at: Date.parse(last.created_at), id: last.id }) : null };
}

/** `/webhook-deliveries`: what was sent to the user's webhook URLs, and how each attempt went. */
export const webhookDeliveryRoutes = createRouter()
  .openapi(list, async (c) => c.json(await listDeliveries(c.env, c.req.valid("query")), 200))
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const delivery = await deliveryObject(c.env, id).getDelivery(id);
    if (!delivery) throw unknownDelivery(id);
    return c.json(delivery, 200);
  })
  .openapi(redeliver, async (c) => {
    const { id } = c.req.valid("param");
    const delivery = await deliveryObject(c.env, id).redeliver(id);
    if (!delivery) throw unknownDelivery(id);
    return c.json(delivery, 200);
  });
