import { createRoute, z } from "@hono/zod-openapi";
import { deleteIntegration } from "../connections/lifecycle";
import { registryClient } from "../bindings/registry-client";
import { badRequest, conflict, unknownIntegration } from "../errors";
import { createRouter } from "../openapi";
import { getProvider, listProviders } from "../providers/catalog";
import { commonErrors, errorResponse, UniqueKeySchema } from "./schemas";

const IntegrationSchema = z
  .object({
    unique_key: z.string(),
    provider: z.string(),
    display_name: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Integration");

const KeyParam = z.object({ key: z.string().openapi({ param: { name: "key", in: "path" }, example: "openai" }) });
const one = (description: string) => ({
  description,
  content: { "application/json": { schema: z.object({ data: IntegrationSchema }) } },
});
const tags = ["Integrations"];

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Create an integration of a provider",
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.object({
            unique_key: UniqueKeySchema,
            provider: z.string().min(1).openapi({ example: "openai" }),
            display_name: z.string().min(1).max(255).optional(),
          }),
        },
      },
    },
  },
  responses: { 201: one("Created"), ...commonErrors, 409: errorResponse("unique_key already used") },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List integrations",
  request: { query: z.strictObject({}) },
  responses: {
    200: { description: "All integrations", content: { "application/json": { schema: z.object({ data: z.array(IntegrationSchema) }) } } },
    ...commonErrors,
  },
});

const get = createRoute({
  method: "get",
  path: "/{key}",
  tags,
  summary: "Get an integration",
  request: { params: KeyParam },
  responses: { 200: one("The integration"), ...commonErrors, 404: errorResponse("Unknown integration") },
});

const update = createRoute({
  method: "patch",
  path: "/{key}",
  tags,
  summary: "Rename an integration",
  request: {
    params: KeyParam,
    body: {
      required: true,
      content: { "application/json": { schema: z.object({ display_name: z.string().min(1).max(255) }) } },
    },
  },
  responses: { 200: one("Updated"), ...commonErrors, 404: errorResponse("Unknown integration") },
});

const remove = createRoute({
  method: "delete",
  path: "/{key}",
  tags,
  summary: "Delete an integration with all its connections (secrets, records, jobs)",
  request: { params: KeyParam },
  responses: { 204: { description: "Deleted" }, ...commonErrors, 404: errorResponse("Unknown integration") },
});

const removeByQuery = createRoute({
  method: "delete",
  path: "/",
  tags,
  summary: "Delete an integration named in the query (for a key a path cannot carry, such as one made of dots)",
  request: { query: z.object({ unique_key: z.string().min(1) }) },
  responses: { 204: { description: "Deleted" }, ...commonErrors, 404: errorResponse("Unknown integration") },
});

/** `/integrations` CRUD. */
export const integrationRoutes = createRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const provider = getProvider(body.provider);
    if (!provider)
      throw badRequest(
        "invalid_request",
        `provider: unknown provider '${body.provider}'; known: ${listProviders()
          .map((p) => p.name)
          .join(", ")}`,
      );
    const result = await registryClient(c.env).createIntegration({
      unique_key: body.unique_key,
      provider: provider.name,
      display_name: body.display_name ?? provider.displayName,
    });
    if (!result.ok) throw conflict("integration_exists", `Integration '${body.unique_key}' already exists`);
    return c.json({ data: result.value }, 201);
  })
  .openapi(list, async (c) => c.json({ data: await registryClient(c.env).listIntegrations() }, 200))
  .openapi(get, async (c) => {
    const { key } = c.req.valid("param");
    const integration = await registryClient(c.env).getIntegration(key);
    if (!integration) throw unknownIntegration(key);
    return c.json({ data: integration }, 200);
  })
  .openapi(update, async (c) => {
    const { key } = c.req.valid("param");
    const integration = await registryClient(c.env).updateIntegration(key, c.req.valid("json"));
    if (!integration) throw unknownIntegration(key);
    return c.json({ data: integration }, 200);
  })
  .openapi(remove, async (c) => {
    const { key } = c.req.valid("param");
    await deleteIntegration(c.env, c.executionCtx, key);
    return c.body(null, 204);
  })
  .openapi(removeByQuery, async (c) => {
    await deleteIntegration(c.env, c.executionCtx, c.req.valid("query").unique_key);
    return c.body(null, 204);
  });
