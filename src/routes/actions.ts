import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { jobObject } from "../jobs/ids";
import type { ActionRunView } from "../actions/job";
import { createLiveCaller } from "../actions/live-caller";
import { actionLogger, type ActionCallStats } from "../actions/log";
import { findAction, parseInput, performAction } from "../actions/perform";
import { actionsOf } from "../actions/catalog";
import { actionJsonSchemas, componentName, describeActions } from "../actions/schemas";
import { registryClient } from "../bindings/registry-client";
import { connectionObject } from "../bindings/stubs";
import type { AppEnv } from "../env";
import { ApiError, badRequest, notFound, providerUnavailable, unknownConnection, unknownIntegration } from "../errors";
import { createRouter } from "../openapi";
import { getProvider, listProviders } from "../providers/catalog";
import { connectionCache } from "../connections/cache";
import { enforceUsageCap } from "../usage/gate";
import { commonErrors, errorResponse } from "./schemas";

const tags = ["Actions"];
const MAX_RETRIES = 5;

/** `X-Max-Retries: 0–5`; absent = the provider's default; anything else is a 400. */
function maxRetriesOf(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const text = raw.trim();
  if (!/^\d+$/.test(text) || Number(text) > MAX_RETRIES) throw badRequest("invalid_max_retries", `X-Max-Retries must be an integer from 0 to ${MAX_RETRIES}`);
  return Number(text);
}

const isAsync = (raw: string | undefined) => /^(true|1|yes)$/i.test(raw?.trim() ?? "");

type TriggerBody = { action_name: string; input: unknown };

async function triggerBody(c: Context<AppEnv>): Promise<TriggerBody> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw badRequest("invalid_json", "The body must be JSON: {action_name, input}");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("invalid_request", "The body must be an object: {action_name, input}");
  const { action_name, input } = body as Record<string, unknown>;
  if (typeof action_name !== "string" || !action_name) throw badRequest("invalid_request", "action_name: a non-empty string is required");
  // Actions without parameters (list-models) may leave input out.
  return { action_name, input: input ?? {} };
}

const RunSchema = z
  .object({
    id: z.string().openapi({ example: `act_${"0".repeat(64)}_${"a".repeat(24)}` }),
    object: z.literal("action_run"),
    action_name: z.string(),
    status: z.enum(["pending", "running", "succeeded", "failed", "interrupted"]),
    output: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string(), status: z.number().optional(), details: z.unknown().optional() }).optional(),
    attempts: z.number(),
    created_at: z.string(),
    updated_at: z.string(),
    next_attempt_at: z.string().nullable(),
  })
  .openapi("ActionRun");

const ConnectionHeaders = z.object({
  "connection-id": z.string().min(1).openapi({ example: "tenant-42" }),
  "provider-config-key": z.string().min(1).openapi({ example: "openai" }),
  "x-async": z.string().optional().openapi({ description: "`true`: run in the background (202), result at `GET /action/{id}`" }),
  "x-max-retries": z.string().optional().openapi({ description: "0–5 retries of the upstream call (rate limits, transient errors)" }),
});

/** Per-action documentation: a oneOf of `{action_name, input}` pairs, each input/output a component. */
const documented = listProviders().flatMap((p) => actionsOf(p).map((a) => ({ provider: p.name, action: a })));
const ref = (provider: string, action: string, io: "input" | "output") => ({ $ref: `#/components/schemas/${componentName(provider, action, io)}` });

const trigger = createRoute({
  method: "post",
  path: "/action/trigger",
  tags,
  summary: "Run an action on a connection",
  description:
    "Validates `input` against the action's schema (422 with the issues, nothing sent upstream), calls the provider through the proxy's retries and rate-limit coordination, and answers with the action's output. Errors from the provider keep its status and body.",
  request: {
    headers: ConnectionHeaders,
    body: {
      required: true,
      content: {
        "application/json": {
          // A plain JSON Schema: documentation only; the body is checked by hand so a bad input is a 422, not a 400.
          schema: {
            oneOf: documented.map(({ provider, action }) => ({
              type: "object",
              required: ["action_name", "input"],
              properties: { action_name: { const: action.name }, input: ref(provider, action.name, "input") },
            })),
          },
        },
      },
    },
  },
  responses: {
    200: {
      description: "The action's output",
      content: {
        "application/json": {
          schema: z.record(z.string(), z.unknown()).openapi({ oneOf: documented.map(({ provider, action }) => ref(provider, action.name, "output")) }),
        },
      },
    },
    202: {
      description: "Accepted (`X-Async: true`)",
      content: { "application/json": { schema: z.object({ id: z.string(), statusUrl: z.string() }) } },
    },
    ...commonErrors,
    404: errorResponse("Unknown connection or action"),
    422: errorResponse("Input does not match the action's schema"),
    429: errorResponse("The connection's rate limit resets later than a request may wait, or its usage cap is reached (`usage_cap_reached`)"),
    502: errorResponse("The provider's answer does not match the action's output schema, or the provider is unreachable"),
  },
});

const RunParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });
const RUN_STATUS_HEADER = "Terapi-Action-Status";

const result = createRoute({
  method: "get",
  path: "/action/{id}",
  tags,
  summary: "An async action's result, as Nango returns it: the output once it succeeded",
  description:
    "200 with the action's output once it succeeded; 202 with the run (`status` pending or running) before; 500 `action_failed` " +
    "with the run's error when it failed or was interrupted. `Terapi-Action-Status` names the state on every answer; the whole run is at `/action/{id}/run`.",
  request: { params: RunParam },
  responses: {
    200: { description: "The action's output", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } },
    202: { description: "Not finished yet", content: { "application/json": { schema: RunSchema } } },
    ...commonErrors,
    404: errorResponse("No such run"),
    500: errorResponse("The run failed (`details` holds its error)"),
  },
});

const run = createRoute({
  method: "get",
  path: "/action/{id}/run",
  tags,
  summary: "An async action run: pending, running, succeeded (with output) or failed (with error)",
  request: { params: RunParam },
  responses: {
    200: { description: "The run", content: { "application/json": { schema: RunSchema } } },
    ...commonErrors,
    404: errorResponse("No such run"),
  },
});

async function findRun(env: Env, id: string): Promise<ActionRunView> {
  const found: ActionRunView | null | undefined = await jobObject(env, "action", id)?.getActionRun(id);
  if (!found) throw notFound("unknown_action_run", `No action run '${id}'`);
  return found;
}

const ActionDescriptionSchema = z
  .object({
    name: z.string(),
    provider: z.string(),
    description: z.string(),
    input_schema: z.record(z.string(), z.unknown()),
    output_schema: z.record(z.string(), z.unknown()),
  })
  .openapi("ActionDescription");

const list = createRoute({
  method: "get",
  path: "/actions",
  tags,
  summary: "The actions available to an integration (or all providers'), with their JSON Schemas",
  request: { query: z.strictObject({ provider_config_key: z.string().min(1).optional() }) },
  responses: {
    200: { description: "Actions", content: { "application/json": { schema: z.object({ data: z.array(ActionDescriptionSchema) }) } } },
    ...commonErrors,
    404: errorResponse("Unknown integration"),
  },
});

/** `POST /action/trigger`, `GET /action/:id`, `GET /actions`. */
export const actionRoutes = createRouter();

for (const { provider, action } of documented) {
  const { input, output } = actionJsonSchemas(action);
  actionRoutes.openAPIRegistry.registerComponent("schemas", componentName(provider, action.name, "input"), input);
  actionRoutes.openAPIRegistry.registerComponent("schemas", componentName(provider, action.name, "output"), output);
}

actionRoutes
  .openapi(trigger, async (c) => {
    const { "connection-id": connectionId, "provider-config-key": providerConfigKey } = c.req.valid("header");
    const body = await triggerBody(c);
    const maxRetries = maxRetriesOf(c.req.header("x-max-retries"));

    const secret = await connectionCache.get(c.env, providerConfigKey, connectionId);
    if (!secret) throw unknownConnection(providerConfigKey, connectionId);
    const provider = getProvider(secret.provider);
    if (!provider) throw providerUnavailable(secret.provider, `Connection '${connectionId}'`);
    const action = findAction(provider, body.action_name);
    if (!action) throw notFound("unknown_action", `No action '${body.action_name}' for provider '${provider.name}'`);
    const input = parseInput(action, body.input);
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    // As on the proxy: a capped connection's action is refused before anything is sent or queued.
    if (secret.usageCap) await enforceUsageCap(c.env, waitUntil, providerConfigKey, connectionId, secret.usageCap);

    if (isAsync(c.req.header("x-async"))) {
      const { id } = await connectionObject(c.env, providerConfigKey, connectionId).enqueueAction({
        providerConfigKey,
        connectionId,
        action: action.name,
        input: new TextEncoder().encode(JSON.stringify(input)).buffer as ArrayBuffer,
        retries: maxRetries ?? provider.retry.defaultRetries,
        // Like the proxy's Retries header: an explicit count allows backoff retries of a POST.
        backoffAllowed: maxRetries !== null,
      });
      // Relative, as Nango's: its SDK prefixes its host to it.
      return c.json({ id, statusUrl: `/action/${id}` }, 202);
    }

    const stats: ActionCallStats = { retries: 0, waitMs: 0, requestId: null };
    const logged = actionLogger(c.env, waitUntil, { providerConfigKey, connectionId, action: action.name, stats });
    const call = createLiveCaller({
      env: c.env,
      waitUntil,
      provider,
      secret,
      providerConfigKey,
      connectionId,
      maxRetries,
      stats,
    });
    const output = await performAction(action, input, call).then(logged.output, logged.error);
    // Every action's output schema is an object.
    return c.json(output as Record<string, unknown>, 200);
  })
  .openapi(result, async (c) => {
    const found = await findRun(c.env, c.req.valid("param").id);
    c.header(RUN_STATUS_HEADER, found.status);
    if (found.status === "succeeded") return c.json((found.output ?? {}) as Record<string, unknown>, 200);
    // An interrupted run ended without an outcome: to a caller polling for the output it failed.
    if (found.status === "failed" || found.status === "interrupted")
      throw new ApiError(500, "action_failed", `Action '${found.action_name}' failed: ${found.error?.message ?? "unknown error"}`, found.error, {
        [RUN_STATUS_HEADER]: found.status,
      });
    return c.json(found, 202);
  })
  .openapi(run, async (c) => {
    const found = await findRun(c.env, c.req.valid("param").id);
    c.header(RUN_STATUS_HEADER, found.status);
    return c.json(found, 200);
  })
  .openapi(list, async (c) => {
    const { provider_config_key } = c.req.valid("query");
    if (provider_config_key === undefined) return c.json({ data: listProviders().flatMap(describeActions) }, 200);
    const integration = await registryClient(c.env).getIntegration(provider_config_key);
    if (!integration) throw unknownIntegration(provider_config_key);
    const provider = getProvider(integration.provider);
    return c.json({ data: provider ? describeActions(provider) : [] }, 200);
  });
