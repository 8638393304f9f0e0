import { createRoute, z } from "@hono/zod-openapi";
import type { Router } from "../openapi";
import type { JobView } from "../proxy/async";
import { errorResponse } from "./schemas";

/**
 * OpenAPI for the proxy. Its handler takes any method and streams bodies, so
 * it is not a typed route: these entries only document it.
 */
const ConnectionHeaders = z.object({
  "connection-id": z.string().openapi({ description: "The connection (tenant) to call as", example: "tenant-42" }),
  "provider-config-key": z.string().openapi({ description: "The integration", example: "openai" }),
  retries: z.string().optional().openapi({ description: "Retries for this call, 0–10 (default 2); also allows retrying a POST after a 5xx" }),
  "retry-on": z.string().optional().openapi({ description: "Statuses to retry, e.g. `429,503`" }),
  async: z.string().optional().openapi({ description: "`true`: answer 202 and run the call in the background, waiting out rate limits" }),
  "idempotency-key": z.string().optional().openapi({ description: "Makes a POST retryable; with Async, the same key returns the same job" }),
});

const PathParam = z.object({
  path: z.string().openapi({ param: { name: "path", in: "path" }, description: "The provider path, e.g. `v1/chat/completions`", example: "v1/models" }),
});

const AsyncAccepted = z.object({ id: z.string(), status_url: z.string().url() }).openapi("ProxyAsyncAccepted");

const ProxyJob = z
  .object({
    id: z.string(),
    object: z.literal("proxy_request"),
    status: z.enum(["queued", "running", "waiting", "completed", "failed", "interrupted"]).openapi({
      description:
        "`interrupted`: terapi restarted while the call was at the provider and the caller had not allowed a re-send (Idempotency-Key or Retries): it may or may not have run",
    }),
    method: z.string(),
    path: z.string(),
    attempts: z.number().int(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    response: z
      .object({
        status: z.number().int(),
        headers: z.record(z.string(), z.string()),
        body: z.string(),
        body_encoding: z.enum(["utf8", "base64"]),
        truncated: z.boolean(),
      })
      .nullable(),
    error: z.object({ code: z.string() }).nullable(),
  })
  .openapi("ProxyJob");

const proxyResponses = {
  200: {
    description: "The provider's answer: status, headers (x-request-id, x-ratelimit-*) and body passed through byte for byte; SSE streamed as it arrives",
  },
  202: { description: "With `Async: true`", content: { "application/json": { schema: AsyncAccepted } } },
  400: errorResponse("Missing connection headers, a path that leaves the provider's base URL, or a bad Retries"),
  401: errorResponse("Missing or invalid secret key"),
  404: errorResponse("Unknown connection"),
  405: errorResponse("TRACE (also TRACK and CONNECT, which the runtime refuses first): never proxied"),
  429: errorResponse(
    "The connection's rate limit resets later than the call may wait, or too many failed secret-key attempts from this client (Retry-After says when)",
  ),
  502: errorResponse("The provider could not be reached"),
  504: errorResponse("The provider did not answer in time"),
};

export function documentProxy(app: Router) {
  for (const method of ["get", "post", "put", "patch", "delete"] as const) {
    app.openAPIRegistry.registerPath(
      createRoute({
        method,
        path: "/proxy/{path}",
        tags: ["Proxy"],
        summary: `${method.toUpperCase()} on the provider, as the connection`,
        description:
          "Forwards to `<provider base URL>/<path>?<query>` with the connection's auth headers (OpenAI: its key, OpenAI-Organization, OpenAI-Project). `Terapi-Proxy-<Name>` (or Nango's `Nango-Proxy-<Name>`) headers are sent as `<Name>`; Nango's SDK control headers (`Base-Url-Override`, `Nango-*`) never are. Rate limits are coordinated per connection.",
        request: { params: PathParam, headers: ConnectionHeaders },
        responses: proxyResponses,
      }),
    );
  }
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/proxy/requests/{id}",
      tags: ["Proxy"],
      summary: "An async proxy call: its status, and the provider's answer when done",
      request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }) },
      responses: {
        200: { description: "The job", content: { "application/json": { schema: ProxyJob } } },
        404: errorResponse("Unknown id"),
      },
    }),
  );
}

// Compile time: the documented job is exactly what `GET /proxy/requests/:id` serves.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const documentedJobIsServed: Same<z.infer<typeof ProxyJob>, JobView> = true;
void documentedJobIsServed;
