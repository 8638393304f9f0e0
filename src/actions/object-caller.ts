import type { RateLimiter } from "../proxy/rate-limiter";
import { attemptUpstream } from "../proxy/upstream-attempt";
import type { ProviderDefinition } from "../providers/types";
import { authHeadersFor } from "../proxy/headers";
import { backoffDelayMs } from "../proxy/retry-policy";
import { sendUpstream } from "../proxy/upstream";
import type { ConnectionSecret } from "../store/connection-secret";
import { sampleOfAnswer } from "../usage/buffered";
import type { UsageSample } from "../usage/types";
import { requestModel } from "../proxy/limit-bucket";
import { encodeRequest, readReply } from "./request";
import type { ActionCall } from "./types";

/** Thrown out of an action run in the object: come back at `at` (the alarm re-runs it). */
export class ActionWait extends Error {
  constructor(readonly at: number) {
    super("action waits");
  }
}

type ObjectCallContext = {
  env: Env;
  limiter: RateLimiter;
  provider: ProviderDefinition;
  secret: ConnectionSecret;
  /** Attempts so far and allowed backoff retries of this job. */
  attempts: number;
  retries: number;
  backoffAllowed: boolean;
  now?: () => number;
  /** A call goes out now (called before it is sent: the run counts it and marks it in flight). */
  onSend?: (method: string) => void;
  /** Counts each answer's usage into the object's ledger, tagged `action` like a live action's. */
  countUsage?: (sample: UsageSample) => Promise<void>;
};

/**
 * The caller an async action gets inside the connection's object: a slot from
 * the same limiter the live proxy uses, and instead of sleeping, an
 * `ActionWait` until the reset the provider named (or the backoff delay).
 */
export function createObjectCaller(ctx: ObjectCallContext): ActionCall {
  const { provider, limiter } = ctx;
  const now = ctx.now ?? (() => Date.now());
  return async (req) => {
    const encoded = await encodeRequest(provider, ctx.env, req);
    for (const [name, value] of Object.entries(authHeadersFor(provider, ctx.secret))) encoded.headers.set(name, value);

    const outcome = await attemptUpstream({
      limiter,
      provider,
      now,
      request: encoded,
      send: () => {
        ctx.onSend?.(encoded.method);
        return sendUpstream(encoded.url, encoded);
      },
      // Re-sending a GET is always safe; a POST only when the caller said how many retries it accepts.
      // Waiting is what async runs are for: a rate limit never fails them.
      backoff: {
        allowed: (ctx.backoffAllowed || req.method === "GET") && ctx.attempts < ctx.retries,
        at: () => now() + backoffDelayMs(ctx.attempts, provider.retry),
      },
    });
    if (outcome.kind === "wait") throw new ActionWait(outcome.at);
    if (outcome.kind === "unreachable") throw outcome.error;
    const res = outcome.res;
    if (ctx.countUsage) {
      // Read from a copy: the reply below reads the answer itself.
      const body = await res.clone().arrayBuffer();
      await ctx.countUsage(
        sampleOfAnswer(provider.usage, {
          method: encoded.method,
          path: encoded.path,
          status: res.status,
          contentType: res.headers.get("content-type"),
          body,
          source: "action",
          requestModel: res.status >= 400 ? requestModel(provider.rateLimit, encoded.path, encoded.method, encoded.body) : null,
          at: now(),
        }),
      );
    }
    return readReply(res);
  };
}
