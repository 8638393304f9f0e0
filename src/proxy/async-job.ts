import { emitAsyncProxyEvent } from "../events/async-proxy";
import { getProvider, providerBaseUrl } from "../providers/catalog";
import { authHeadersFor, callerResponseHeaders } from "./headers";
import { upstreamUrl } from "./path";
import { backoffDelayMs } from "./retry-policy";
import { sendUpstream } from "./upstream";
import { loadConnectionSecret } from "../store/connection-secret";
import { sampleOfAnswer } from "../usage/buffered";
import { requestModel } from "./limit-bucket";
import { type JobContext, mayResendInterrupted } from "../jobs/context";
import type { FinishedStatus } from "../jobs/status";
import { type JobRow, RESULT_BODY_LIMIT } from "../jobs/store";
import { attemptUpstream } from "./upstream-attempt";
import { readCapped } from "../lib/read-capped";

/**
 * One attempt of one job, inside the connection's object: it takes a slot from
 * the same limiter the live proxy uses, and on a rate limit goes back to sleep
 * until the reset the provider named (the caller re-arms the alarm).
 */
export async function runJob(ctx: JobContext, job: JobRow): Promise<void> {
  const { env, jobs, limiter } = ctx;
  const now = ctx.now ?? (() => Date.now());
  const secret = await loadConnectionSecret(env, ctx.providerConfigKey, ctx.connectionId);
  const provider = secret ? getProvider(secret.provider) : undefined;
  const started = now();
  // A webhook that cannot be stored must not undo the job's result.
  const finish = (status: FinishedStatus, responseStatus: number | null, error: string | null, requestId: string | null = null) => {
    ctx.log({
      provider_config_key: ctx.providerConfigKey,
      connection_id: ctx.connectionId,
      type: "proxy",
      status: status === "completed" && responseStatus !== null && responseStatus < 400 ? "success" : "failure",
      http_status: responseStatus,
      duration_ms: Math.max(0, now() - started),
      started_at: started,
      retries: Math.max(0, job.attempts),
      // Time spent waiting on the alarm since the job was queued (rate limits, backoff).
      wait_ms: Math.max(0, started - job.createdAt),
      request_id: requestId,
      method: job.method,
      path: job.path,
      detail: `async ${job.id}${error ? `: ${error}` : ""}`,
    });
    return emitAsyncProxyEvent(env, {
      id: job.id,
      provider_config_key: ctx.providerConfigKey,
      connection_id: ctx.connectionId,
      provider: secret?.provider ?? "unknown",
      status,
      response_status: responseStatus,
      error,
    }).catch(() => undefined);
  };
  if (!mayResendInterrupted(job)) {
    jobs.interrupt(job.id);
    return finish("interrupted", null, "interrupted");
  }
  if (!secret || !provider) {
    jobs.fail(job.id, "unknown_connection");
    return finish("failed", null, "unknown_connection");
  }
  // Like the live proxy's 429: a capped connection's queued job never reaches the provider.
  if (await ctx.usage?.capReached()) {
    jobs.fail(job.id, "usage_cap_reached");
    return finish("failed", 429, "usage_cap_reached");
  }

  const headers = new Headers(job.headers);
  for (const [name, value] of Object.entries(authHeadersFor(provider, secret))) headers.set(name, value);
  const url = upstreamUrl(providerBaseUrl(provider, env), job.path, job.query);
  const outcome = await attemptUpstream({
    limiter,
    provider,
    now,
    request: { path: job.path, method: job.method, body: job.body },
    send: () => {
      jobs.startAttempt(job.id, job.method);
      return sendUpstream(url, { method: job.method, headers, body: job.body });
    },
    // Async jobs exist to wait: a rate limit never uses up their retries, a backoff does.
    backoff: { allowed: job.backoffAllowed && job.attempts < job.retries, at: () => now() + backoffDelayMs(job.attempts, provider.retry) },
  });
  if (outcome.kind === "wait") return jobs.wait(job.id, outcome.at);
  if (outcome.kind === "unreachable") {
    jobs.fail(job.id, "upstream_unreachable");
    return finish("failed", null, "upstream_unreachable");
  }
  const res = outcome.res;
  const { bytes, truncated } = await readCapped(res.body, RESULT_BODY_LIMIT);
  jobs.complete(job.id, { status: res.status, headers: [...callerResponseHeaders(res.headers)], body: bytes, truncated });
  await ctx.usage?.count(
    sampleOfAnswer(provider.usage, {
      method: job.method,
      path: job.path,
      status: res.status,
      contentType: res.headers.get("content-type"),
      body: bytes,
      truncated,
      source: "proxy",
      requestModel: res.status >= 400 ? requestModel(provider.rateLimit, job.path, job.method, job.body) : null,
      at: now(),
    }),
  );
  return finish("completed", res.status, null, res.headers.get("x-request-id"));
}
