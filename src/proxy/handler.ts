import { ApiError, providerUnavailable, unknownConnection } from "../errors";
import { getProvider, providerBaseUrl } from "../providers/catalog";
import { isAsync, readAsyncBody } from "./async";
import { REPLAY_LIMIT } from "./forward";
import { namesModel } from "./limit-bucket";
import { forward } from "./instances";
import { connectionCache } from "../connections/cache";
import { authHeadersFor, callerResponse, upstreamRequestHeaders } from "./headers";
import { confinePath, rawPathAndQuery, upstreamUrl } from "./path";
import { retryOptions } from "./retry-policy";
import { connectionObject } from "../bindings/stubs";
import { logProxyAnswer, logProxyFailure, type ProxyCall } from "../logs/proxy";
import { tapAnswer, type UsageCall } from "../usage/tap";
import { enforceUsageCap } from "../usage/gate";

/**
 * `ANY /proxy/*`: one proxied call, from the caller's request to the
 * provider's answer. Kept apart from the router (src/routes/proxy.ts mounts it
 * there too) so that the Worker's entry can run it without loading the
 * router, its OpenAPI machinery or any other route (see src/index.ts).
 */

const MOUNT = "/proxy";

/**
 * Never proxied: TRACE would echo the request with the tenant's credentials back
 * from the provider, TRACK is its IIS twin, CONNECT asks for a tunnel. (workerd
 * itself answers TRACK and CONNECT before the Worker runs; TRACE reaches here.)
 */
const REFUSED_METHODS = new Set(["TRACE", "TRACK", "CONNECT"]);
const PROXIED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/** What a proxied call needs of its invocation: plain values, no router context (see `proxyFastPath`). */
type Call = { req: Request; env: Env; ctx: Pick<ExecutionContext, "waitUntil"> };

export async function proxy(call: Call): Promise<Response> {
  const { req, env } = call;
  const method = req.method;
  if (REFUSED_METHODS.has(method.toUpperCase()))
    throw new ApiError(405, "method_not_allowed", `${method} is never proxied`, undefined, { allow: PROXIED_METHODS });
  const incoming = req.headers;
  const connectionId = incoming.get("connection-id")?.trim();
  const providerConfigKey = incoming.get("provider-config-key")?.trim();
  if (!connectionId || !providerConfigKey) throw new ApiError(400, "missing_connection_headers", "Send the Connection-Id and Provider-Config-Key headers");

  // The raw path, before any decoding, is what is checked and sent.
  const { path: fullPath, query } = rawPathAndQuery(req.url);
  const path = confinePath(fullPath.startsWith(`${MOUNT}/`) ? fullPath.slice(MOUNT.length) : "/");

  const hit = connectionCache.cached(providerConfigKey, connectionId);
  const secret = hit !== undefined ? hit : await connectionCache.get(env, providerConfigKey, connectionId);
  if (!secret) throw unknownConnection(providerConfigKey, connectionId);
  const provider = getProvider(secret.provider);
  if (!provider) throw providerUnavailable(secret.provider, `Connection '${connectionId}'`);

  // Nango's SDK always sends it, empty unless set: a per-request base URL is what terapi never allows.
  if (incoming.get("base-url-override")?.trim())
    throw new ApiError(501, "unsupported", "Base-Url-Override is not supported: a provider's base URL is fixed by the deployment, never per request");
  const waitUntil = (p: Promise<unknown>) => call.ctx.waitUntil(p);
  if (secret.usageCap) await enforceUsageCap(env, waitUntil, providerConfigKey, connectionId, secret.usageCap);
  const options = retryOptions(incoming, method, provider.retry);
  const url = upstreamUrl(providerBaseUrl(provider, env), path, query);
  const hasBody = method !== "GET" && method !== "HEAD" && req.body !== null;

  if (isAsync(incoming)) {
    const body = hasBody ? await readAsyncBody(req) : null;
    // Stored without credentials (the object loads them when the job runs), with the
    // caller's Idempotency-Key: it goes upstream, so the provider can dedupe a re-send.
    const headers = upstreamRequestHeaders(incoming, {}, provider);
    const stub = connectionObject(env, providerConfigKey, connectionId);
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
    // As Hono's c.json() answers it.
    return new Response(JSON.stringify({ id, status_url: new URL(`${MOUNT}/requests/${id}`, req.url).toString() }), {
      status: 202,
      headers: { "content-type": "application/json" },
    });
  }

  // Kept in memory only when a retry may need to send it again, and only when small;
  // otherwise it streams straight through (and is sent at most once).
  const length = Number(incoming.get("content-length") ?? "NaN");
  // A small body to an endpoint that names a model is also kept: its model decides the limit bucket.
  const keep = options.retries > 0 || namesModel(provider.rateLimit, path);
  const body = !hasBody ? null : keep && length <= REPLAY_LIMIT ? await req.arrayBuffer() : req.body;

  // Recorded in the background once the headers are known: no awaited call added here.
  const line: ProxyCall = { providerConfigKey, connectionId, method, path, started: Date.now(), stats: { retries: 0, waitMs: 0 } };
  let res: Response;
  try {
    res = await forward({
      env,
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
      stats: line.stats,
      // Its caller's copy is made once, below (a small answer's from its bytes).
      keepAnswer: true,
    });
  } catch (err) {
    logProxyFailure(env, waitUntil, line, err);
    throw err;
  }
  const usage: UsageCall = { env, waitUntil, provider, providerConfigKey, connectionId, method, path, source: "proxy", copy: callerResponse };
  // The caller's Response; its log line and usage recorded as one, once the usage is known (a small answer: read whole first, so before it goes back).
  return tapAnswer(res, usage, (sample, cut) => logProxyAnswer(env, waitUntil, line, res, sample, cut));
}

const PREFIX = `${MOUNT}/`;
const STATUS_PREFIX = `${MOUNT}/requests/`;

/**
 * `ANY /proxy/*` without the router: the same secret-key check, handler and
 * error answers as through the app, minus the router's per-request work (match,
 * context, middleware composition), which the profile showed as a tenth of a
 * proxied call. Everything under `/proxy/requests/` still goes the router's way
 * (it owns `GET /proxy/requests/:id`). Returns null for any other path.
 */
export function proxyFastPath(
  req: Request,
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  /** Nothing when the key is known good at once, else a promise of the check; throws or rejects the refusal. */
  authorize: (req: Request, env: Env) => Promise<void> | undefined,
  onError: (err: Error) => Response,
): Promise<Response> | null {
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  if (pathStart < 0 || !url.startsWith(PREFIX, pathStart) || url.startsWith(STATUS_PREFIX, pathStart)) return null;
  const call: Call = { req, env, ctx };
  let answer: Promise<Response>;
  try {
    const checking = authorize(req, env);
    answer = checking ? checking.then(() => proxy(call)) : proxy(call);
  } catch (err) {
    answer = Promise.reject(err as Error);
  }
  // The router answers HEAD without a body (it routes it as GET); so does this.
  return req.method === "HEAD" ? answer.then(headless, onError) : answer.catch(onError);
}

const headless = (res: Response) => new Response(null, res);
