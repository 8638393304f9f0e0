import type { ProviderDefinition } from "../providers/types";
import { authHeadersFor } from "../proxy/headers";
import { connectionCache } from "../connections/cache";
import { forward } from "../proxy/instances";
import { retryOptions } from "../proxy/retry-policy";
import { confinePath } from "../proxy/path";
import { tapUsage } from "../usage/tap";
import type { ConnectionSecret } from "../store/connection-secret";
import { encodeRequest, readReply } from "./request";
import type { ActionCallStats } from "./log";
import type { ActionCall } from "./types";

type LiveCallContext = {
  env: Env;
  waitUntil: (p: Promise<unknown>) => void;
  provider: ProviderDefinition;
  secret: ConnectionSecret;
  providerConfigKey: string;
  connectionId: string;
  /** `X-Max-Retries`, already checked; null = the provider's default. */
  maxRetries: number | null;
  /** Filled as calls go: retries, waits, the provider's last request id (for the operation log). */
  stats?: ActionCallStats;
};

/**
 * The caller a synchronous action gets: the proxy's own forwarder, so it
 * shares the isolate's budget view, the connection object's limiter, the
 * retry policy and the provider's auth headers.
 */
export function createLiveCaller(ctx: LiveCallContext): ActionCall {
  const { provider, providerConfigKey, connectionId } = ctx;
  const auth = authHeadersFor(provider, ctx.secret);
  // An explicit X-Max-Retries, like the proxy's Retries header, also allows backoff retries of a POST.
  const retryHeaders = new Headers(ctx.maxRetries === null ? {} : { retries: String(ctx.maxRetries) });
  return async (req) => {
    const encoded = await encodeRequest(provider, ctx.env, req);
    for (const [name, value] of Object.entries(auth)) encoded.headers.set(name, value);
    const sent = await forward({
      env: ctx.env,
      waitUntil: ctx.waitUntil,
      provider,
      providerConfigKey,
      connectionId,
      url: encoded.url,
      path: encoded.path,
      method: encoded.method,
      headers: encoded.headers,
      body: encoded.body,
      options: retryOptions(retryHeaders, encoded.method, provider.retry),
      onUnauthorized: () => connectionCache.evict(providerConfigKey, connectionId),
      stats: ctx.stats,
    });
    // Counted like a proxied call, tagged as an action's.
    const res = await tapUsage(sent, {
      env: ctx.env,
      waitUntil: ctx.waitUntil,
      provider,
      providerConfigKey,
      connectionId,
      method: encoded.method,
      path: confinePath(req.path),
      source: "action",
    });
    if (ctx.stats) ctx.stats.requestId = res.headers.get("x-request-id") ?? ctx.stats.requestId;
    return readReply(res);
  };
}
