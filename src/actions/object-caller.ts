import type { RateLimiter } from "../durable-objects/rate-limiter";
import { SAFETY_MARGIN_MS } from "../durable-objects/rate-limiter";
import type { ProviderDefinition } from "../providers/types";
import { peekError } from "../proxy/error-peek";
import { authHeadersFor } from "../proxy/headers";
import { observe } from "../proxy/observation";
import { backoffDelayMs, classify, resetDelayMs } from "../proxy/retry-policy";
import { sendUpstream } from "../proxy/upstream";
import type { ConnectionSecret } from "../store/connection-secret";
import { encodeRequest, readReply } from "./request";
import type { ActionCall } from "./types";

/** Thrown out of an action run in the object: come back at `at` (the alarm re-runs it). */
export class ActionWait extends Error {
  constructor(
    readonly at: number,
    /** The provider was called (counts as an attempt). */
    readonly attempted: boolean,
  ) {
    super("action waits");
  }
}

export type ObjectCallContext = {
  env: Env;
  limiter: RateLimiter;
  provider: ProviderDefinition;
  secret: ConnectionSecret;
  /** Attempts so far and allowed backoff retries of this job. */
  attempts: number;
  retries: number;
  backoffAllowed: boolean;
  now?: () => number;
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
    // Re-sending a GET is always safe; a POST only when the caller said how many retries it accepts.
    const canBackoff = (ctx.backoffAllowed || req.method === "GET") && ctx.attempts < ctx.retries;
    const encoded = await encodeRequest(provider, ctx.env, req);
    for (const [name, value] of Object.entries(authHeadersFor(provider, ctx.secret))) encoded.headers.set(name, value);

    const slot = limiter.tryAcquire();
    if (!slot.ok) throw new ActionWait(slot.at, false);
    let res: Response;
    try {
      res = await sendUpstream(encoded.url, encoded);
    } catch (err) {
      limiter.report(slot.gen, {});
      if (canBackoff) throw new ActionWait(now() + backoffDelayMs(ctx.attempts, provider.retry), true);
      throw err;
    }
    const t = now();
    const obs = observe(res.headers, provider.rateLimit, t);
    if (res.status >= 400) {
      const peeked = await peekError(res);
      res = peeked.res;
      const verdict = classify(res.status, peeked.info, provider.retry, null);
      if (verdict === "wait") {
        // Waiting is what async runs are for: a rate limit never fails them.
        obs.blockedUntil = t + (resetDelayMs(res.headers, peeked.info, provider.rateLimit, t) ?? 1_000) + SAFETY_MARGIN_MS;
        limiter.report(slot.gen, obs);
        await res.body?.cancel();
        throw new ActionWait(obs.blockedUntil, true);
      }
      if (verdict === "backoff" && canBackoff) {
        limiter.report(slot.gen, obs);
        await res.body?.cancel();
        throw new ActionWait(t + backoffDelayMs(ctx.attempts, provider.retry), true);
      }
    }
    limiter.report(slot.gen, obs);
    return readReply(res);
  };
}
