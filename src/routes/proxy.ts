import type { Context } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { createRouter } from "../openapi";
import { getProvider, providerBaseUrl } from "../providers/registry";
import { jobObject } from "../durable-objects/job-ids";
import { isAsync, readAsyncBody } from "../proxy/async";
import { REPLAY_LIMIT } from "../proxy/forward";
import { namesModel } from "../proxy/limit-bucket";
import { connectionCache, forward } from "../proxy/instances";
import { authHeadersFor, upstreamRequestHeaders } from "../proxy/headers";
import { confinePath, rawPathAndQuery, upstreamUrl } from "../proxy/path";
import { retryOptions } from "../proxy/retry-policy";
import { connectionObject } from "../durable-objects/stubs";
import { proxyLogger } from "../logs/proxy";
import { tapUsage } from "../usage/tap";
import { enforceUsageCap } from "../usage/gate";

// Per isolate, shared with the actions routes (one budget view per connection).
export { connectionCache, rateLimitView } from "../proxy/instances";

const MOUNT = "/proxy";

/**
 * Never proxied: TRACE would echo the request with the tenant's credentials back
 * from the provider, TRACK is its IIS twin, CONNECT asks for a tunnel. (workerd
 * itself answers TRACK and CONNECT before the Worker runs; TRACE reaches here.)
 */
const REFUSED_METHODS = new Set(["TRACE", "TRACK", "CONNECT"]);
const PROXIED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

async function proxy(c: Context<AppEnv>): Promise<Response> {
  if (REFUSED_METHODS.has(c.req.method.toUpperCase()))
    throw new ApiError(405, "method_not_allowed", `${c.req.method} is never proxied`, undefined, { allow: PROXIED_METHODS });
  const connectionId = c.req.header("connection-id")?.trim();
  const providerConfigKey = c.req.header("provider-config-key")?.trim();
  if (!connectionId || !providerConfigKey)
    throw new ApiError(400, "missing_connection_headers", "Send the Connection-Id and Provider-Config-Key headers");

  // The raw path, before any decoding, is what is checked and sent.
  const { path: fullPath, query } = rawPathAndQuery(c.req.url);
  const path = confinePath(fullPath.startsWith(`${MOUNT}/`) ? fullPath.slice(MOUNT.length) : "/");

  const secret = await connectionCache.get(c.env, providerConfigKey, connectionId);
  if (!secret) throw new ApiError(404, "unknown_connection", `No connection '${connectionId}' for integration '${providerConfigKey}'`);
  const provider = getProvider(secret.provider);
  if (!provider) throw new ApiError(500, "unknown_provider", `Provider '${secret.provider}' is not available`);

  const method = c.req.method;
  const incoming = c.req.raw.headers;
  // Nango's SDK always sends it, empty unless set: a per-request base URL is what terapi never allows.
  if (incoming.get("base-url-override")?.trim())
    throw new ApiError(501, "unsupported", "Base-Url-Override is not supported: a provider's base URL is fixed by the deployment, never per request");
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  if (secret.usageCap) await enforceUsageCap(c.env, waitUntil, providerConfigKey, connectionId, secret.usageCap);
  const options = retryOptions(incoming, method, provider.retry);
  const url = upstreamUrl(providerBaseUrl(provider, c.env), path, query);
  const hasBody = method !== "GET" && method !== "HEAD" && c.req.raw.body !== null;

  if (isAsync(incoming)) {
    const body = hasBody ? await readAsyncBody(c.req.raw) : null;
    // Stored without credentials (the object loads them when the job runs), with the
    // caller's Idempotency-Key: it goes upstream, so the provider can dedupe a re-send.
    const headers = upstreamRequestHeaders(incoming, {}, provider);
    const stub = connectionObject(c.env, providerConfigKey, connectionId);
    const { id } = await stub.enqueue({
      providerConfigKey,
      connectionId,
      method,
      path,
      query,
      headers: [...headers],
      body,
      idempotencyKey: incoming.get("idempotency-key"),
      retries: options.retries,
      backoffAllowed: options.backoffAllowed,
    });
    return c.json({ id, status_url: new URL(`${MOUNT}/requests/${id}`, c.req.url).toString() }, 202);
  }

  // Kept in memory only when a retry may need to send it again, and only when small;
  // otherwise it streams straight through (and is sent at most once).
  const length = Number(incoming.get("content-length") ?? "NaN");
  // A small body to an endpoint that names a model is also kept: its model decides the limit bucket.
  const keep = options.retries > 0 || namesModel(provider.rateLimit, path);
  const body = !hasBody ? null : keep && length <= REPLAY_LIMIT ? await c.req.arrayBuffer() : c.req.raw.body;

  // Recorded in the background once the headers are known: no awaited call added here.
  const stats = { retries: 0, waitMs: 0 };
  const usage = { env: c.env, waitUntil, provider, providerConfigKey, connectionId, method, path, source: "proxy" } as const;
  const logged = proxyLogger(c.env, waitUntil, { providerConfigKey, connectionId, method, path, started: Date.now(), stats });
  return forward({
    env: c.env,
    waitUntil,
    provider,
    providerConfigKey,
    connectionId,
    url,
    path,
    method,
    headers: upstreamRequestHeaders(incoming, authHeadersFor(provider, secret), provider),
    body,
    options,
    onUnauthorized: () => connectionCache.evict(providerConfigKey, connectionId),
    stats,
  }).then((res) => logged.response(tapUsage(res, usage)), logged.error);
}

async function requestStatus(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const stub = jobObject(c.env, "preq", id);
  const job = stub ? await stub.getJob(id) : null;
  if (!job) throw new ApiError(404, "unknown_request", `No async proxy request '${id}'`);
  return c.json(job);
}

/** `ANY /proxy/*` and `GET /proxy/requests/:id`. */
export const proxyRoutes = createRouter();
proxyRoutes.get("/requests/:id", requestStatus);
proxyRoutes.all("/*", proxy);
