import { connectionObject } from "../bindings/stubs";
import { ApiError } from "../errors";
import type { ProviderDefinition } from "../providers/types";
import { withRequestModel } from "./answer-model";
import { peekError } from "./error-peek";
import { callerResponse, callerResponseHeaders } from "./headers";
import { chargeOf } from "./limit-bucket";
import { observe, observeRefusal, type RateObservation } from "./observation";
import type { RateLimitView } from "./rate-limit-view";
import { attemptFits, backoffDelayMs, classify, type RetryOptions } from "./retry-policy";
import { sendUpstream, UpstreamError } from "./upstream";
import { type Gens, type Grant, NO_GEN, SAFETY_MARGIN_MS } from "./rate-limiter";
import type { CalibrationTicket } from "./calibration";
import { connectionKey } from "../lib/connection-key";

/** Request bodies up to this size are kept in memory when a retry may have to re-send them. */
export const REPLAY_LIMIT = 1024 * 1024;

type ForwardRequest = {
  env: Env;
  waitUntil: (p: Promise<unknown>) => void;
  provider: ProviderDefinition;
  providerConfigKey: string;
  connectionId: string;
  url: string;
  /** The path under the provider's base URL (decides the request's limit bucket). */
  path: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | ArrayBuffer | null;
  options: RetryOptions;
  /** A 401 from the provider: the cached secret is probably stale. */
  onUnauthorized: () => void;
  /** Filled in as it goes, for the operation log: attempts beyond the first, time spent waiting. */
  stats?: { retries: number; waitMs: number };
  /**
   * A success (status < 400) comes back as the provider's own Response, for
   * the caller to make the caller's copy once with `callerResponse` (the proxy
   * reads a small answer first and answers from its bytes). Errors always come
   * back as the caller's.
   */
  keepAnswer?: boolean;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A direct answer's budget reaches the object this long after the answer, not with it: the object
 * wakes (and, on one workerd, runs in the caller's isolate) once the caller has been answered, and
 * in the background (at most once per bucket every few seconds: `view.share`), not during an isolate's first call.
 */
const SHARE_AFTER_MS = 250;

/** Is a body that can be sent more than once (or none at all)? */
const replayable = (body: ForwardRequest["body"]) => !(body instanceof ReadableStream);

function withRetryAfter(res: Response, waitMs: number): Response {
  const headers = callerResponseHeaders(res.headers);
  if (!headers.has("retry-after")) headers.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

const passThrough = (res: Response) => callerResponse(res);

/**
 * Sends one proxied request, waiting and retrying as the provider's rules say.
 * Far from the limit this is one `fetch`; the connection's Durable Object is
 * asked only when the isolate's view says the budget is low or unknown.
 */
export function createForwarder(view: RateLimitView) {
  return async function forward(req: ForwardRequest): Promise<Response> {
    const { provider, options } = req;
    // The budget it draws from: its bucket (model or endpoint) and token charge, read from a body in memory only.
    const charge = chargeOf(provider.rateLimit, req.path, req.method, req.body);
    const key = `${connectionKey(req.providerConfigKey, req.connectionId)}\u0000${charge.bucket}`;
    const tokens = view.estimate(key, charge.tokens);
    const started = Date.now();
    const budgetLeft = () => options.maxWaitMs - (Date.now() - started);
    let stub: ReturnType<typeof connectionObject> | null = null;
    const object = () => (stub ??= connectionObject(req.env, req.providerConfigKey, req.connectionId));
    let retriesLeft = options.retries;
    let lastLimited: Response | null = null;
    // The bound covers retries: each must fit with the slowest attempt's duration, and a
    // backoff retry is cut off at the bound (the first attempt gets the provider's own timeout).
    let longestAttemptMs = 0;
    let cutOffAtBound = false;
    const stats = req.stats ?? { retries: 0, waitMs: 0 };
    const waiting = async <T>(p: Promise<T>): Promise<T> => {
      const t0 = Date.now();
      try {
        return await p;
      } finally {
        stats.waitMs += Date.now() - t0;
      }
    };

    for (;;) {
      // 1. Permission to send: straight away, after the probe, or from the Durable Object.
      let route = view.route(key, tokens);
      while (route === "wait-probe") {
        await waiting(view.probeDone(key));
        route = view.route(key, tokens);
      }
      let grant: { gen: Gens; probe: boolean; ticket: CalibrationTicket } | null = null;
      if (route === "coordinate") {
        const asked = Date.now();
        const g = await view.held<Grant>(key, () => object().acquire(charge.bucket, tokens, view.hint(key), Math.max(0, budgetLeft())));
        stats.waitMs += Date.now() - asked;
        if (!g.ok) {
          if (lastLimited) return withRequestModel(withRetryAfter(lastLimited, g.retryAfterMs), provider.rateLimit, req);
          throw new ApiError(
            429,
            "rate_limited",
            "The connection's rate limit resets later than this request may wait; retry later or use Async: true",
            undefined,
            {
              "retry-after": String(Math.max(1, Math.ceil(g.retryAfterMs / 1000))),
            },
          );
        }
        grant = { gen: g.gen, probe: g.probe, ticket: g.ticket };
        view.adopt(key, g.ratio, g.samples);
      }
      const report = (obs: RateObservation, sample: number | null = null, chargedTokens: number | null = null, refused = false) => {
        if (grant) req.waitUntil(object().report(charge.bucket, { ...grant, obs, raw: charge.tokens, sample, chargedTokens }));
        // A 429 met on the direct path: the object (and the work it runs) learns the block at once;
        // otherwise, now and then, what the bucket looks like (in the background, never awaited).
        else if (refused) req.waitUntil(object().report(charge.bucket, { gen: NO_GEN, obs }));
        else if (obs.requests?.limit !== undefined && view.share(key))
          req.waitUntil(sleep(SHARE_AFTER_MS).then(() => object().report(charge.bucket, { gen: NO_GEN, obs })));
      };

      // 2. One upstream call.
      const sending = view.begin(key, tokens, charge.tokens);
      let res: Response;
      const sentAt = Date.now();
      try {
        const timeoutMs = cutOffAtBound ? Math.max(1, budgetLeft()) : undefined;
        res = await sendUpstream(req.url, { method: req.method, headers: req.headers, body: req.body, timeoutMs, leaveTimer: true });
      } catch (err) {
        longestAttemptMs = Math.max(longestAttemptMs, Date.now() - sentAt);
        view.finish(key, sending, null);
        report({});
        if (err instanceof UpstreamError && options.backoffAllowed && retriesLeft > 0 && replayable(req.body)) {
          const delay = backoffDelayMs(options.retries - retriesLeft, provider.retry);
          if (attemptFits(delay, longestAttemptMs, budgetLeft())) {
            retriesLeft--;
            stats.retries++;
            cutOffAtBound = true;
            await waiting(sleep(delay));
            continue;
          }
        }
        throw err;
      }
      const now = Date.now();
      longestAttemptMs = Math.max(longestAttemptMs, now - sentAt);
      const obs: RateObservation = observe(res.headers, provider.rateLimit, now);

      if (res.status < 400) {
        report(obs, view.finish(key, sending, obs));
        return req.keepAnswer ? res : passThrough(res);
      }

      // 3. An error: read it (small JSON only) and decide.
      const peeked = await peekError(res);
      res = peeked.res;
      const verdict = classify(res.status, peeked.info, provider.retry, options.retryOn);
      let waitMs = 0;
      let chargedTokens: number | null = null;
      if (res.status === 429 && verdict === "wait") {
        // Blocks this bucket's refused dimension only, until that dimension's reset.
        ({ waitMs, chargedTokens } = observeRefusal(obs, res.headers, peeked.info, provider.rateLimit, now, SAFETY_MARGIN_MS));
      }
      report(obs, view.finish(key, sending, obs, chargedTokens), chargedTokens, res.status === 429 && verdict === "wait");
      if (res.status === 401) req.onUnauthorized();

      const canResend = retriesLeft > 0 && replayable(req.body);
      if (verdict === "wait") {
        // Everyone of this connection now waits for the same reset (through the object).
        if (canResend && attemptFits(waitMs + SAFETY_MARGIN_MS, longestAttemptMs, budgetLeft())) {
          retriesLeft--;
          stats.retries++;
          cutOffAtBound = false;
          // Kept (its small body is in memory) in case the wait ends up longer than allowed.
          await lastLimited?.body?.cancel();
          lastLimited = res;
          continue;
        }
        return withRequestModel(withRetryAfter(res, waitMs), provider.rateLimit, req);
      }
      if (verdict === "backoff" && canResend && options.backoffAllowed) {
        const delay = backoffDelayMs(options.retries - retriesLeft, provider.retry);
        if (attemptFits(delay, longestAttemptMs, budgetLeft())) {
          retriesLeft--;
          stats.retries++;
          cutOffAtBound = true;
          await res.body?.cancel();
          await waiting(sleep(delay));
          continue;
        }
      }
      return withRequestModel(passThrough(res), provider.rateLimit, req);
    }
  };
}
