import { createRoute, z } from "@hono/zod-openapi";
import { connectionObject } from "../bindings/stubs";
import { unknownConnection } from "../errors";
import { createRouter } from "../openapi";
import { connectionCache } from "../connections/cache";
import { loadConnectionSecret, saveConnectionSecret } from "../store/connection-secret";
import { queryUsage } from "../usage/query";
import { USAGE_SOURCES, type UsageCap } from "../usage/types";
import { commonErrors, ConnectionIdSchema, errorResponse } from "./schemas";

const totals = {
  requests: z.number().int(),
  errors: z.number().int().openapi({ description: "Answers with a status >= 400 (included in requests)" }),
  estimated_requests: z.number().int().openapi({ description: "Streams that carried no usage: output tokens estimated from the text, input unknown" }),
  input_tokens: z.number().int(),
  cached_input_tokens: z.number().int().openapi({ description: "Part of input_tokens served from the prompt cache" }),
  output_tokens: z.number().int(),
  reasoning_tokens: z.number().int().openapi({ description: "Part of output_tokens spent reasoning" }),
  cost: z.number().openapi({ description: "USD, from the price table named by price_version" }),
};

const BucketSchema = z
  .object({
    start: z.string().openapi({ description: "Start of the UTC day or hour" }),
    provider_config_key: z.string(),
    connection_id: z.string(),
    model: z.string().openapi({ description: "As the response named it (an error: as its request's JSON body named it); `unknown` when neither did" }),
    source: z.enum(USAGE_SOURCES),
    ...totals,
  })
  .openapi("UsageBucket");

const ConnectionUsageSchema = z
  .object({
    provider_config_key: z.string(),
    connection_id: z.string(),
    ...totals,
    models: z.array(z.object({ model: z.string(), ...totals })),
  })
  .openapi("ConnectionUsage");

const UsageReportSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    granularity: z.enum(["day", "hour"]),
    currency: z.literal("USD"),
    price_version: z.string(),
    totals: z.object(totals),
    data: z.array(BucketSchema),
    connections: z.array(ConnectionUsageSchema).openapi({ description: "Per connection and model, highest cost first (the top connections)" }),
  })
  .openapi("UsageReport");

const time = z.string().min(1).max(40).openapi({ description: "YYYY-MM-DD or an ISO 8601 time (UTC)" });

const getUsage = createRoute({
  method: "get",
  path: "/",
  tags: ["Usage"],
  summary: "Requests, tokens and cost per connection, model and UTC day or hour",
  description:
    "Read from every proxied call, `Async` proxy job and action, live or `X-Async` (the `usage` the provider reported; streams without usage are estimated " +
    "and counted in `estimated_requests`). With `connection_id` and `provider_config_key` the connection's own figures are read " +
    "(days, or hours of the last 48 h); anything wider reads the environment's day index, which lags by up to half a minute. " +
    "Default window: the last 30 days (days) or 48 hours (hours). An answer from the index carries at most 20,000 day rows " +
    "(one per connection, day, model and source): a wider read answers 400 `too_many_rows`.",
  request: {
    query: z
      .object({
        connection_id: z.string().min(1).optional(),
        provider_config_key: z.string().min(1).optional(),
        end_user_id: z.string().min(1).optional(),
        model: z.string().min(1).optional(),
        from: time.optional(),
        to: time.optional().openapi({ description: "Exclusive" }),
        granularity: z.enum(["day", "hour"]).default("day"),
      })
      .strict(),
  },
  responses: {
    200: { description: "Buckets, totals, and the connections by cost", content: { "application/json": { schema: UsageReportSchema } } },
    ...commonErrors,
  },
});

const CapSchema = z
  .object({
    metric: z.enum(["tokens", "cost"]).openapi({ description: "Total tokens (input + output), or USD" }),
    period: z.enum(["day", "month"]).openapi({ description: "UTC day or calendar month" }),
    limit: z.number().positive(),
  })
  .strict()
  .openapi("UsageCap");

const CapStateSchema = z
  .object({
    cap: CapSchema.nullable(),
    used: z.number().nullable(),
    blocked: z.boolean(),
    period_start: z.string().nullable(),
    period_end: z.string().nullable(),
    price_version: z.string().nullable(),
  })
  .openapi("UsageCapState");

const capParams = {
  params: z.object({ connectionId: ConnectionIdSchema }),
  query: z.object({ provider_config_key: z.string().min(1) }).strict(),
};
const capResponses = {
  200: { description: "The cap and the period's usage", content: { "application/json": { schema: CapStateSchema } } },
  404: errorResponse("No such connection"),
  ...commonErrors,
};

const getCap = createRoute({
  method: "get",
  path: "/{connectionId}/usage-cap",
  tags: ["Usage"],
  summary: "A connection's usage cap and its usage this period",
  request: capParams,
  responses: capResponses,
});

const putCap = createRoute({
  method: "put",
  path: "/{connectionId}/usage-cap",
  tags: ["Usage"],
  summary: "Cap a connection's tokens or cost per UTC day or month",
  description:
    "Past the cap, its proxied calls and actions get 429 `usage_cap_reached` from terapi without reaching the provider, until the period ends; " +
    "`Async` jobs and `X-Async` runs already queued end `failed` with error `usage_cap_reached` when they come to run. " +
    "A `usage` webhook goes out at 80 % and at 100 %, once each per period. Calls already running finish, so usage can end a little above the cap.",
  request: { ...capParams, body: { required: true, content: { "application/json": { schema: CapSchema } } } },
  responses: capResponses,
});

const deleteCap = createRoute({
  method: "delete",
  path: "/{connectionId}/usage-cap",
  tags: ["Usage"],
  summary: "Remove a connection's usage cap",
  request: capParams,
  responses: capResponses,
});

async function capView(env: Env, providerConfigKey: string, connectionId: string) {
  const s = await connectionObject(env, providerConfigKey, connectionId).usageCapState();
  if (!s) return { cap: null, used: null, blocked: false, period_start: null, period_end: null, price_version: null };
  const { metric, period, limit } = s.cap;
  return {
    cap: { metric, period, limit },
    used: s.used,
    blocked: s.blocked,
    period_start: new Date(s.period_start).toISOString(),
    period_end: new Date(s.period_end).toISOString(),
    price_version: s.price_version,
  };
}

/** Stores the cap with the connection's cached secret (what the proxy reads) and in its object (which enforces it). */
async function setCap(env: Env, providerConfigKey: string, connectionId: string, cap: UsageCap | null) {
  const secret = await loadConnectionSecret(env, providerConfigKey, connectionId);
  if (!secret) throw unknownConnection(providerConfigKey, connectionId);
  const { usageCap: _old, ...rest } = secret;
  await connectionObject(env, providerConfigKey, connectionId).setUsageCap(cap ? { ...cap, provider: secret.provider } : null);
  await saveConnectionSecret(env, cap ? { ...rest, usageCap: cap } : rest);
  connectionCache.evict(providerConfigKey, connectionId);
  return capView(env, providerConfigKey, connectionId);
}

/** `GET /usage`. */
export const usageRoutes = createRouter().openapi(getUsage, async (c) => c.json(await queryUsage(c.env, c.req.valid("query")), 200));

/** `/connections/:connectionId/usage-cap`. */
export const usageCapRoutes = createRouter()
  .openapi(getCap, async (c) => {
    const { connectionId } = c.req.valid("param");
    const { provider_config_key } = c.req.valid("query");
    if (!(await loadConnectionSecret(c.env, provider_config_key, connectionId))) throw unknownConnection(provider_config_key, connectionId);
    return c.json(await capView(c.env, provider_config_key, connectionId), 200);
  })
  .openapi(putCap, async (c) =>
    c.json(await setCap(c.env, c.req.valid("query").provider_config_key, c.req.valid("param").connectionId, c.req.valid("json")), 200),
  )
  .openapi(deleteCap, async (c) => c.json(await setCap(c.env, c.req.valid("query").provider_config_key, c.req.valid("param").connectionId, null), 200));
