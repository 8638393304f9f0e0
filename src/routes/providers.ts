import { createRoute, z } from "@hono/zod-openapi";
import { notFound } from "../errors";
import { createRouter } from "../openapi";
import { getProvider, listProviders } from "../providers/catalog";
import type { ProviderDefinition } from "../providers/types";
import { actionsOf } from "../actions/catalog";
import { commonErrors, errorResponse } from "./schemas";

const tags = ["Integrations"];

/** A provider as Nango's `GET /providers` describes one (its `ApiProvider`), from terapi's provider data. */
const ProviderSchema = z
  .object({
    name: z.string(),
    display_name: z.string(),
    auth_mode: z.literal("API_KEY"),
    logo_url: z.string(),
    docs: z.string(),
    categories: z.array(z.string()),
    proxy: z.object({ base_url: z.string(), headers: z.record(z.string(), z.string()) }),
    actions: z.array(z.string()),
    syncs: z.array(z.string()),
  })
  .openapi("Provider");

const DOCS = "https://platform.openai.com/docs/api-reference";

function describe(p: ProviderDefinition): z.infer<typeof ProviderSchema> {
  return {
    name: p.name,
    display_name: p.displayName,
    auth_mode: p.authMode,
    logo_url: "",
    docs: DOCS,
    categories: ["ai"],
    // The templates, never a value: `${apiKey}` is filled per connection.
    proxy: { base_url: p.baseUrl, headers: p.authHeaders },
    actions: actionsOf(p).map((a) => a.name),
    syncs: [...new Set((p.syncs ?? []).map((s) => s.name))],
  };
}

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "The providers this deployment knows (Nango's listProviders)",
  request: { query: z.strictObject({ search: z.string().min(1).max(256).optional() }) },
  responses: { 200: { description: "Providers", content: { "application/json": { schema: z.object({ data: z.array(ProviderSchema) }) } } }, ...commonErrors },
});

const get = createRoute({
  method: "get",
  path: "/{provider}",
  tags,
  summary: "One provider (Nango's getProvider)",
  request: { params: z.object({ provider: z.string().openapi({ param: { name: "provider", in: "path" }, example: "openai" }) }) },
  responses: {
    200: { description: "The provider", content: { "application/json": { schema: z.object({ data: ProviderSchema }) } } },
    ...commonErrors,
    404: errorResponse("Unknown provider"),
  },
});

/** `/providers`: read-only, from the provider registry (providers are data). */
export const providerRoutes = createRouter()
  .openapi(list, (c) => {
    const search = c.req.valid("query").search?.toLowerCase();
    const all = listProviders().filter((p) => !search || p.name.includes(search) || p.displayName.toLowerCase().includes(search));
    return c.json({ data: all.map(describe) }, 200);
  })
  .openapi(get, (c) => {
    const { provider } = c.req.valid("param");
    const found = getProvider(provider);
    if (!found) throw notFound("unknown_provider", `No provider '${provider}'`);
    return c.json({ data: describe(found) }, 200);
  });
