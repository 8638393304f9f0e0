import { createRoute, z } from "@hono/zod-openapi";
import {
  connectionNotFound,
  createConnection,
  deleteConnection,
  requireSecret,
  updateConnection,
} from "../connections/lifecycle";
import { presentConnection } from "../connections/present";
import { registryClient } from "../durable-objects/registry-client";
import { badRequest, notFound } from "../errors";
import { createRouter } from "../openapi";
import {
  commonErrors,
  ConnectionIdSchema,
  EndUserSchema,
  errorResponse,
  MetadataSchema,
  TagsSchema,
  UniqueKeySchema,
} from "./schemas";

const tags = ["Connections"];

const CredentialsSchema = z
  .object({ type: z.literal("API_KEY"), apiKey: z.string().min(1).max(4096).openapi({ example: "sk-proj-…" }) })
  .openapi("ApiKeyCredentials");

// null clears a field on update; on creation it is the same as leaving it out.
const optionalSetting = (max: number) => z.string().min(1).max(max).nullable().optional();
const ConnectionConfigInputSchema = z
  .object({
    organization_id: optionalSetting(128).openapi({ description: "Sent as OpenAI-Organization" }),
    project_id: optionalSetting(128).openapi({ description: "Sent as OpenAI-Project" }),
    webhook_secret: optionalSetting(1024).openapi({ description: "whsec_… that signs the provider's webhooks" }),
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
    credentials: z.object({
      type: z.literal("API_KEY"),
      apiKey: z.string().openapi({ description: "Masked (e.g. `sk-p…abcd`) unless `reveal=true`" }),
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
  id: z.string().min(1).openapi({ param: { name: "id", in: "path" }, example: "tenant-42" }),
});
const PckQuery = z.object({ provider_config_key: z.string().min(1).openapi({ example: "openai" }) });

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
    query: z.object({
      provider_config_key: z.string().min(1).optional(),
      end_user_id: z.string().min(1).optional(),
      search: z.string().min(1).max(256).optional().openapi({ description: "Substring of connection id, end user email or name" }),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      cursor: z.string().min(1).optional().openapi({ description: "next_cursor of the previous page" }),
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
    }),
  },
  responses: { 200: { description: "The connection", ...json(ConnectionSchema) }, ...commonErrors, ...notFoundResponse },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Rotate the key (verified again), or change config, metadata, end user, tags",
  request: {
    params: ConnectionParam,
    body: {
      required: true,
      ...json(
        z.object({
          provider_config_key: UniqueKeySchema,
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
    200: { description: "Updated (credentials masked)", ...json(ConnectionSchema) },
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
    const page = await registryClient(c.env).listConnections(c.req.valid("query"));
    if (!page) throw badRequest("invalid_cursor", "cursor is not a next_cursor returned by this API");
    return c.json({ connections: page.connections.map((r) => presentConnection(r)), next_cursor: page.next_cursor }, 200);
  })
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const { provider_config_key: pck, reveal } = c.req.valid("query");
    const record = await registryClient(c.env).getConnection(pck, id);
    if (!record) throw connectionNotFound(pck, id);
    const revealed = reveal === "true" ? await requireSecret(c.env, pck, id) : undefined;
    return c.json(presentConnection(record, revealed), 200);
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const { provider_config_key: pck, ...changes } = c.req.valid("json");
    const record = await updateConnection(c.env, c.executionCtx, pck, id, changes);
    return c.json(presentConnection(record), 200);
  })
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await deleteConnection(c.env, c.executionCtx, c.req.valid("query").provider_config_key, id);
    return c.body(null, 204);
  });

async function setMetadata(env: Env, body: z.infer<typeof MetadataBody>, mode: "replace" | "merge"): Promise<void> {
  const ids = typeof body.connection_id === "string" ? [body.connection_id] : [...new Set(body.connection_id)];
  const result = await registryClient(env).setMetadata(body.provider_config_key, ids, body.metadata, mode);
  if (!result.ok)
    throw notFound("connection_not_found", `No connection ${result.missing.map((id) => `'${id}'`).join(", ")} for integration '${body.provider_config_key}'; nothing was changed`);
}
