import type { Context } from "hono";
import { createRoute, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { createRouter } from "../openapi";
import { commonErrors, errorResponse } from "./schemas";

/**
 * Parts of Nango's API its SDK calls that terapi has no counterpart for:
 * answered with 501 `unsupported` naming what and why, never a bare route-miss
 * 404, so a caller moving from Nango learns at once what does not carry over.
 */
const UNSUPPORTED: { method: "get" | "post" | "patch" | "delete" | "all"; path: string; what: string; why: string }[] = [
  { method: "get", path: "/providers/:provider/templates", what: "Function templates", why: "terapi has no Nango functions (scripts); providers are data" },
  { method: "post", path: "/integrations/quickstart", what: "Quickstart integrations", why: "create an integration with POST /integrations" },
  {
    method: "all",
    path: "/integrations/:key/functions/*",
    what: "Deployed functions",
    why: "terapi has no Nango functions (scripts); actions and syncs are provider data",
  },
  { method: "get", path: "/integrations/:key/functions", what: "Deployed functions", why: "terapi has no Nango functions (scripts); see GET /actions" },
  {
    method: "get",
    path: "/scripts/config",
    what: "Scripts config",
    why: "terapi has no Nango scripts; GET /actions lists the actions with their JSON Schemas",
  },
  { method: "patch", path: "/records/prune", what: "Pruning records", why: "terapi keeps records whole; a sync reset (opts.reset) rebuilds them" },
  { method: "all", path: "/sync/:name/variant/:variant", what: "Sync variants", why: "terapi's syncs have one variant, `base`" },
  { method: "all", path: "/oauth/*", what: "OAuth flows", why: "terapi connects with API keys only (POST /connections or a connect session)" },
  { method: "all", path: "/connection/*", what: "Nango's legacy /connection routes", why: "use /connections" },
  {
    method: "all",
    path: "/webhook-url-override",
    what: "Webhook URL overrides",
    why: "one environment has webhook_url and secondary_webhook_url (PATCH /environment)",
  },
];

const refuse = (what: string, why: string) => (_c: Context<AppEnv>) => {
  throw new ApiError(501, "unsupported", `${what} (Nango) is not supported by terapi: ${why}`);
};

const environmentVariables = createRoute({
  method: "get",
  path: "/environment-variables",
  tags: ["Webhooks"],
  summary: "Nango's environment variables: terapi has none to offer (its configuration is Worker variables and secrets)",
  request: { query: z.strictObject({}) },
  responses: {
    200: { description: "Always empty", content: { "application/json": { schema: z.array(z.object({ name: z.string(), value: z.string() })) } } },
    ...commonErrors,
    501: errorResponse("unsupported"),
  },
});

/** Mounted after every real route: only Nango paths terapi does not serve land here. */
export const nangoCompatRoutes = createRouter().openapi(environmentVariables, (c) => c.json([], 200));
for (const { method, path, what, why } of UNSUPPORTED) {
  if (method === "all") nangoCompatRoutes.all(path, refuse(what, why));
  else nangoCompatRoutes.on(method.toUpperCase(), path, refuse(what, why));
}
