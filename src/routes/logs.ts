import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../openapi";
import { queryLogs } from "../logs/query";
import { OPERATION_STATUSES, OPERATION_TYPES } from "../logs/types";
import { commonErrors } from "./schemas";

const OperationLogSchema = z
  .object({
    id: z.string(),
    provider_config_key: z.string(),
    connection_id: z.string(),
    type: z.enum(OPERATION_TYPES),
    status: z.enum(OPERATION_STATUSES),
    http_status: z.number().int().nullable().openapi({ description: "Upstream's status, or terapi's own error status" }),
    duration_ms: z.number().int(),
    retries: z.number().int().openapi({ description: "Attempts beyond the first" }),
    wait_ms: z.number().int().openapi({ description: "Time spent waiting for a rate-limit reset or a backoff" }),
    request_id: z.string().nullable().openapi({ description: "The provider's x-request-id" }),
    method: z.string().nullable(),
    path: z.string().nullable().openapi({ description: "Proxy calls: the upstream path (never the query string)" }),
    detail: z.string().nullable().openapi({ description: "Error code, event type, sync or action name" }),
    created_at: z.string().openapi({ description: "When the operation started" }),
  })
  .openapi("OperationLog");

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["Operations"],
  summary: "The operation log: proxy calls, syncs, actions, inbound webhooks and deliveries, newest first",
  description:
    "Kept 7 days. Never holds bodies nor credentials. With `connection_id` and `provider_config_key` together, the connection's own log " +
    "is read (an operation shows up within about a second); otherwise the environment-wide index, across any number of connections, " +
    "which is at most a few seconds (normally under 3 s) behind.",
  request: {
    query: z.strictObject({
      connection_id: z.string().min(1).optional(),
      provider_config_key: z.string().min(1).optional(),
      type: z.enum(OPERATION_TYPES).optional(),
      status: z.string().min(1).optional().openapi({ description: "`success`, `failure`, or an HTTP status code such as `429`" }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: z.string().min(1).optional().openapi({ description: "next_cursor of the previous page" }),
    }),
  },
  responses: {
    200: {
      description: "A page of log lines",
      content: { "application/json": { schema: z.object({ logs: z.array(OperationLogSchema), next_cursor: z.string().nullable() }) } },
    },
    ...commonErrors,
  },
});

export const logRoutes = createRouter().openapi(list, async (c) => c.json(await queryLogs(c.env, c.req.valid("query")), 200));
