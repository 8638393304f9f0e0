import type { Context } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { createRouter } from "../openapi";
import { getProvider, providerBaseUrl } from "../providers/registry";
import { jobObject } from "../durable-objects/job-ids";
import { isAsync, readAsyncBody } from "../proxy/async";
import { REPLAY_LIMIT } from "../proxy/forward";
import { connectionCache, forward } from "../proxy/instances";
import { authHeadersFor, upstreamRequestHeaders } from "../proxy/headers";
import { confinePath, rawPathAndQuery, upstreamUrl } from "../proxy/path";
import { retryOptions } from "../proxy/retry-policy";
import { connectionObject } from "../durable-objects/stubs";
import { proxyLogger } from "../logs/proxy";

// Per isolate, shared with the actions routes (one budget view per connection).
export { connectionCache, rateLimitView } from "../proxy/instances";

const MOUNT = "/proxy";

async function proxy(c: Context<AppEnv>): Promise<Response> {
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
  const body =
    !hasBody ? null : options.retries > 0 && length <= REPLAY_LIMIT ? await c.req.arrayBuffer() : c.req.raw.body;

  // Recorded in the background once the headers are known: no awaited call added here.
  const stats = { retries: 0, waitMs: 0 };
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const logged = proxyLogger(c.env, waitUntil, { providerConfigKey, connectionId, method, path, started: Date.now(), stats });
  return forward({
    env: c.env,
    waitUntil,
    provider,
    providerConfigKey,
    connectionId,
    url,
    method,
    headers: upstreamRequestHeaders(incoming, authHeadersFor(provider, secret), provider),
    body,
    options,
    onUnauthorized: () => connectionCache.evict(providerConfigKey, connectionId),
    stats,
  }).then(logged.response, logged.error);
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
