import { createRoute, z } from "@hono/zod-openapi";
import { createConnection, deleteConnection, requireSecret, updateConnection } from "../connections/lifecycle";
import { presentConnection } from "../connections/present";
import type { BucketState } from "../proxy/rate-limiter";
import { registryClient } from "../bindings/registry-client";
import { connectionObject, outboxObject } from "../bindings/stubs";
import type { ConnectionFilter } from "../connections/index-store";
import { badRequest, invalidCursor, unknownConnection, unknownConnections } from "../errors";
import { createRouter } from "../openapi";
import {
  commonErrors,
  ConnectionIdSchema,
  EndUserSchema,
  errorResponse,
  headerSafe,
  MetadataSchema,
  TagsSchema,
  UniqueKeySchema,
  WebhookSecretSchema,
} from "./schemas";
import { iso } from "../lib/iso-time";

const tags = ["Connections"];

const CredentialsSchema = z
  .object({ type: z.literal("API_KEY"), apiKey: headerSafe(z.string().min(1).max(4096)).openapi({ example: "sk-proj-…" }) })
  .openapi("ApiKeyCredentials");

// null clears a field on update; on creation it is the same as leaving it out.
const optionalHeaderValue = () => headerSafe(z.string().min(1).max(128)).nullable().optional();
const ConnectionConfigInputSchema = z
  .object({
    organization_id: optionalHeaderValue().openapi({ description: "Sent as OpenAI-Organization" }),
    project_id: optionalHeaderValue().openapi({ description: "Sent as OpenAI-Project" }),
    webhook_secret: WebhookSecretSchema.nullable().optional().openapi({ description: "whsec_… that signs the provider's webhooks" }),
  })
  .openapi("ConnectionConfigInput");

const ConnectionSchema = z
  .object({
    id: z.string(),
    connection_id: z.string(),
    provider_config_key: z.string(),
    provider: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    created: z.string().openapi({ description: "Nango's name for created_at" }),
    errors: z.array(z.object({ type: z.string(), log_id: z.string() })),
    last_fetched_at: z.string().nullable(),
    credentials: z.object({
      type: z.literal("API_KEY"),
      apiKey: z.string().openapi({
        description: "Masked (e.g. `sk-p…abcd`) unless `reveal=true` or the environment's `reveal_credentials` is on",
      }),
      masked: z.boolean().openapi({ description: "true: apiKey is a hint, not the key (turn on `reveal_credentials` with PATCH /environment)" }),
    }),
    connection_config: z.object({
      organization_id: z.string().optional(),
      project_id: z.string().optional(),
      webhook_secret: z.string().optional().openapi({ description: "Masked unless `reveal=true`" }),
    }),
    metadata: MetadataSchema,
    end_user: EndUserSchema.nullable(),
    tags: TagsSchema,
  })
  .openapi("Connection");

const ConnectionParam = z.object({
  id: z
    .string()
    .min(1)
    .openapi({ param: { name: "id", in: "path" }, example: "tenant-42" }),
});
const PckQuery = z.strictObject({ provider_config_key: z.string().min(1).openapi({ example: "openai" }) });

/** Query flags Nango's SDK always sends with getConnection; API keys have nothing to refresh, so they change nothing. */
const nangoFlag = z.enum(["true", "false"]).optional().openapi({ description: "Nango's; accepted, no effect on API keys" });

const TAG_PARAM = /^tags\[([^\]]{1,64})\]$/;

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const notFoundResponse = { 404: errorResponse("Unknown integration or connection") };

const MetadataBody = z.object({
  connection_id: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(1000)]),
  provider_config_key: z.string().min(1),
  metadata: MetadataSchema,
});
const metadataRoute = (method: "post" | "patch", summary: string) =>
  createRoute({
    method,
    path: "/metadata",
    tags,
    summary,
    request: { body: { required: true, ...json(MetadataBody) } },
    responses: { 200: { description: "Done", ...json(MetadataBody) }, ...commonErrors, ...notFoundResponse },
  });
const replaceMetadata = metadataRoute("post", "Replace the metadata of one or more connections");
const mergeMetadata = metadataRoute("patch", "Merge into the metadata of one or more connections (top-level keys)");

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Create a connection; the key is verified with the provider first",
  request: {
    body: {
      required: true,
      ...json(
        z.object({
          provider_config_key: z.string().min(1),
          connection_id: ConnectionIdSchema.optional(),
          credentials: CredentialsSchema,
          connection_config: ConnectionConfigInputSchema.optional(),
          metadata: MetadataSchema.optional(),
          end_user: EndUserSchema.optional(),
          tags: TagsSchema.optional(),
        }),
      ),
    },
  },
  responses: {
    201: { description: "Created (credentials masked)", ...json(ConnectionSchema) },
    ...commonErrors,
    ...notFoundResponse,
    409: errorResponse("connection_id already used (`connection_exists`), or being created by another request (`connection_being_created`, with Retry-After)"),
    502: errorResponse("Provider unreachable"),
    504: errorResponse("Provider did not answer in time"),
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List connections",
  request: {
    query: z
      .object({
        provider_config_key: z.string().min(1).optional(),
        integrationId: z.string().min(1).optional().openapi({ description: "Nango's name: one or more integrations, comma separated" }),
        end_user_id: z.string().min(1).optional(),
        endUserId: z.string().min(1).optional().openapi({ description: "Nango's name for end_user_id" }),
        connection_id: z.string().min(1).optional(),
        connectionId: z.string().min(1).optional().openapi({ description: "Nango's name for connection_id" }),
        search: z.string().min(1).max(256).optional().openapi({ description: "Substring of connection id, end user email or name" }),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        cursor: z.string().min(1).optional().openapi({ description: "next_cursor of the previous page" }),
        page: z.coerce.number().int().min(0).max(100_000).optional().openapi({ description: "Nango's paging: 0-based page of `limit`" }),
      })
      .catchall(z.string().max(256))
      .superRefine((q, ctx) => {
        const known = new Set([
          "provider_config_key",
          "integrationId",
          "end_user_id",
          "endUserId",
          "connection_id",
          "connectionId",
          "search",
          "limit",
          "cursor",
          "page",
        ]);
        // `tags[<key>]=<value>` (Nango's SDK) is the one open-ended name; anything else is refused, never ignored.
        const unknown = Object.keys(q).filter((k) => !known.has(k) && !TAG_PARAM.test(k));
        if (unknown.length > 0) ctx.addIssue({ code: "unrecognized_keys", keys: unknown, input: q });
        if (q.page !== undefined && q.cursor !== undefined) ctx.addIssue({ code: "custom", path: ["page"], message: "use either page or cursor" });
      }),
  },
  responses: {
    200: {
      description: "A page of connections",
      ...json(z.object({ connections: z.array(ConnectionSchema), next_cursor: z.string().nullable() })),
    },
    ...commonErrors,
  },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a connection",
  request: {
    params: ConnectionParam,
    query: PckQuery.extend({
      reveal: z.enum(["true", "false"]).optional().openapi({ description: "Return the real apiKey and webhook_secret" }),
      force_refresh: nangoFlag,
      refresh_token: nangoFlag,
      refresh_github_app_jwt_token: nangoFlag,
    }),
  },
  responses: { 200: { description: "The connection", ...json(ConnectionSchema) }, ...commonErrors, ...notFoundResponse },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Rotate the key (verified again), or change config, metadata, end user, tags",
  description: "`provider_config_key` in the body, or in the query as Nango's SDK sends it.",
  request: {
    params: ConnectionParam,
    query: z.strictObject({ provider_config_key: UniqueKeySchema.optional() }),
    body: {
      required: true,
      ...json(
        z.object({
          provider_config_key: UniqueKeySchema.optional(),
          credentials: CredentialsSchema.optional(),
          connection_config: ConnectionConfigInputSchema.optional(),
          metadata: MetadataSchema.optional(),
          end_user: EndUserSchema.nullable().optional(),
          tags: TagsSchema.optional(),
        }),
      ),
    },
  },
  responses: {
    200: {
      description: "Updated (credentials masked); `success` is what Nango's patchConnection returns",
      ...json(ConnectionSchema.extend({ success: z.literal(true) })),
    },
    ...commonErrors,
    ...notFoundResponse,
    502: errorResponse("Provider unreachable"),
    504: errorResponse("Provider did not answer in time"),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a connection: its secret, records, schedules and pending jobs",
  request: { params: ConnectionParam, query: PckQuery },
  responses: {
    204: { description: "Deleted (also a secret left behind by an interrupted create)" },
    ...commonErrors,
    ...notFoundResponse,
    409: errorResponse("The connection is still being created (`connection_being_created`, with Retry-After)"),
  },
});

const Dimension = z
  .object({
    limit: z.number().int().nullable().openapi({ description: "Per window, as the provider last said; null until seen" }),
    remaining: z.number().int().nullable().openapi({ description: "Left in the current window, net of requests let through" }),
    reset_at: z.string().nullable().openapi({ description: "When the current window resets (ISO 8601)" }),
    blocked_until: z.string().nullable().openapi({ description: "After a 429 on this dimension: nothing that needs it goes before this" }),
  })
  .openapi("LimitDimension");
const LimitBucket = z
  .object({
    bucket: z.string().openapi({ description: "A model (or model family sharing a budget), or an endpoint such as /v1/files", example: "gpt-4o" }),
    requests: Dimension,
    tokens: Dimension,
    held: z.number().int().openapi({ description: "Requests held now, waiting for room" }),
    token_ratio: z.number().openapi({ description: "What the provider charges / terapi's first estimate, learned from its answers" }),
  })
  .openapi("LimitBucket");

const limits = createRoute({
  method: "get",
  path: "/{id}/limits",
  tags,
  summary: "The connection's rate-limit buckets: per model or endpoint, requests and tokens left, resets, requests held",
  request: { params: ConnectionParam, query: PckQuery },
  responses: {
    200: { description: "Buckets seen since the connection's object last started", ...json(z.object({ buckets: z.array(LimitBucket) })) },
    ...commonErrors,
    ...notFoundResponse,
  },
});

const presentDimension = (d: BucketState["requests"]) => ({ ...d, reset_at: iso(d.reset_at), blocked_until: iso(d.blocked_until) });

const removeByQuery = createRoute({
  method: "delete",
  path: "/",
  tags,
  summary: "Delete a connection named in the query (for an id a path cannot carry, such as one made of dots)",
  request: { query: PckQuery.extend({ connection_id: z.string().min(1) }) },
  responses: { 204: { description: "Deleted" }, ...commonErrors, ...notFoundResponse },
});

/** `/connections` (API key auth): create with verification, list, get, rotate, delete, metadata. */
export const connectionRoutes = createRouter()
  // Before `/{id}`, so `metadata` is never taken for a connection id.
  .openapi(replaceMetadata, async (c) => {
    const body = c.req.valid("json");
    await setMetadata(c.env, body, "replace");
    return c.json(body, 200);
  })
  .openapi(mergeMetadata, async (c) => {
    const body = c.req.valid("json");
    await setMetadata(c.env, body, "merge");
    return c.json(body, 200);
  })
  .openapi(create, async (c) => {
    const record = await createConnection(c.env, c.executionCtx, c.req.valid("json"));
    return c.json(presentConnection(record), 201);
  })
  .openapi(list, async (c) => {
    const page = await registryClient(c.env).listConnections(connectionFilter(c.req.valid("query")));
    if (!page) throw invalidCursor();
    return c.json({ connections: page.connections.map((r) => presentConnection(r)), next_cursor: page.next_cursor }, 200);
  })
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const { provider_config_key: providerConfigKey, reveal } = c.req.valid("query");
    const record = await registryClient(c.env).getConnection(providerConfigKey, id);
    if (!record) throw unknownConnection(providerConfigKey, id);
    const clear = reveal === "true" || (await outboxObject(c.env).getEnvironment()).reveal_credentials;
    const revealed = clear ? await requireSecret(c.env, providerConfigKey, id) : undefined;
    return c.json(presentConnection(record, revealed), 200);
  })
  .openapi(limits, async (c) => {
    const { id } = c.req.valid("param");
    const { provider_config_key: providerConfigKey } = c.req.valid("query");
    const record = await registryClient(c.env).getConnection(providerConfigKey, id);
    if (!record) throw unknownConnection(providerConfigKey, id);
    const { buckets } = await connectionObject(c.env, providerConfigKey, id).limiterState();
    return c.json(
      {
        buckets: buckets.map((b) => ({
          bucket: b.bucket,
          requests: presentDimension(b.requests),
          tokens: presentDimension(b.tokens),
          held: b.queued,
          token_ratio: b.token_ratio,
        })),
      },
      200,
    );
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const { provider_config_key: inBody, ...changes } = c.req.valid("json");
    const inQuery = c.req.valid("query").provider_config_key;
    if (inBody && inQuery && inBody !== inQuery) throw badRequest("invalid_request", "provider_config_key differs between the query and the body");
    const providerConfigKey = inBody ?? inQuery;
    if (!providerConfigKey) throw badRequest("invalid_request", "provider_config_key: required (in the body or the query)");
    const record = await updateConnection(c.env, c.executionCtx, providerConfigKey, id, changes);
    return c.json({ ...presentConnection(record), success: true as const }, 200);
  })
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await deleteConnection(c.env, c.executionCtx, c.req.valid("query").provider_config_key, id);
    return c.body(null, 204);
  })
  .openapi(removeByQuery, async (c) => {
    const { provider_config_key, connection_id } = c.req.valid("query");
    await deleteConnection(c.env, c.executionCtx, provider_config_key, connection_id);
    return c.body(null, 204);
  });

/** The list's query, Nango's names folded into terapi's (both accepted; the same filter twice must agree). */
function connectionFilter(q: Record<string, string | number | undefined>): ConnectionFilter {
  const pick = (a: string, b: string): string | undefined => {
    const [x, y] = [q[a], q[b]] as [string | undefined, string | undefined];
    if (x !== undefined && y !== undefined && x !== y) throw badRequest("invalid_request", `${a} and ${b} name the same filter with different values`);
    return x ?? y;
  };
  const integrations =
    q.integrationId === undefined
      ? undefined
      : String(q.integrationId)
          .split(",")
          .map((k) => k.trim())
          .filter(Boolean);
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    const m = TAG_PARAM.exec(k);
    if (m?.[1] !== undefined && typeof v === "string") tags[m[1]] = v;
  }
  const filter: ConnectionFilter = { limit: Number(q.limit) };
  if (q.provider_config_key !== undefined) filter.provider_config_key = String(q.provider_config_key);
  if (integrations !== undefined) filter.provider_config_keys = integrations;
  const endUser = pick("end_user_id", "endUserId");
  if (endUser !== undefined) filter.end_user_id = endUser;
  const connectionId = pick("connection_id", "connectionId");
  if (connectionId !== undefined) filter.connection_id = connectionId;
  if (q.search !== undefined) filter.search = String(q.search);
  if (q.cursor !== undefined) filter.cursor = String(q.cursor);
  if (q.page !== undefined) filter.page = Number(q.page);
  if (Object.keys(tags).length > 0) filter.tags = tags;
  return filter;
}

async function setMetadata(env: Env, body: z.infer<typeof MetadataBody>, mode: "replace" | "merge"): Promise<void> {
  const ids = typeof body.connection_id === "string" ? [body.connection_id] : [...new Set(body.connection_id)];
  const result = await registryClient(env).setMetadata(body.provider_config_key, ids, body.metadata, mode);
  if (!result.ok) throw unknownConnections(body.provider_config_key, result.missing, "; nothing was changed");
}
