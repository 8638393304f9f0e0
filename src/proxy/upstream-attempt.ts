import type { ProviderDefinition } from "../providers/types";
import { peekError } from "./error-peek";
import { chargeOf } from "./limit-bucket";
import { observe, observeRefusal } from "./observation";
import { classify, type ErrorInfo } from "./retry-policy";
import { type RateLimiter, SAFETY_MARGIN_MS } from "./rate-limiter";

/** What one raw attempt came to, before the caller's retry budget is applied. */
type Attempt =
  /** No slot in the connection's budget: nothing was sent; come back at `at`. */
  | { kind: "no-slot"; at: number }
  /** Sent, and no answer came (network error, timeout). */
  | { kind: "unreachable"; error: unknown }
  /** The provider's rate limit: come back at its reset (body already read). */
  | { kind: "rate-limited"; until: number; info: ErrorInfo }
  /** A 5xx/408-like answer worth a backoff retry, if the caller has retries left (body re-readable). */
  | { kind: "retryable"; res: Response; info: ErrorInfo }
  /** Anything else: a success, or an error that is final (error bodies re-readable). */
  | { kind: "answer"; res: Response; info: ErrorInfo | null };

/**
 * What one upstream call from inside a connection's object comes to, for the
 * work that runs there (async proxy jobs, async actions, sync pages). That
 * work never sleeps: it is told when to come back, and the object's alarm
 * brings it back then.
 */
type Outcome =
  /**
   * Come back at `at`: no slot (nothing sent), the provider's rate limit
   * (never uses up a retry), or a backoff (`backoff`: one retry used). `status`
   * is the 5xx-like answer backed off from (its body cancelled), otherwise null.
   */
  | { kind: "wait"; at: number; backoff: boolean; status: number | null }
  /** Sent, no answer came, and no retry is left. */
  | { kind: "unreachable"; error: unknown }
  /** The answer to keep: a success, or an error that is final (error bodies re-readable). */
  | { kind: "answer"; res: Response; info: ErrorInfo | null };

type AttemptOptions = {
  limiter: RateLimiter;
  provider: ProviderDefinition;
  now: () => number;
  /** What is sent: its bucket and token charge are read from it (a body in memory only). */
  request: { path: string; method: string; body: ArrayBuffer | null };
  /** Sends the request; called only once a slot is granted. */
  send: () => Promise<Response>;
  /** Whether the caller has a backoff retry left for a network error or a 5xx-like answer, and when it would go. */
  backoff: { allowed: boolean; at: () => number };
};

/**
 * One call under the connection's limiter, the same one the live proxy's
 * coordination uses, turned into the one outcome every caller in the object
 * acts on: take a slot in the request's bucket (requests and tokens), send,
 * teach the limiter what the answer says (a 429 blocks every user of that
 * bucket and dimension until its reset), classify the answer by the provider's
 * retry rules, and apply the caller's backoff budget.
 */
export async function attemptUpstream(options: AttemptOptions): Promise<Outcome> {
  const attempt = await attemptOnce(options);
  const { backoff } = options;
  switch (attempt.kind) {
    case "no-slot":
      return { kind: "wait", at: attempt.at, backoff: false, status: null };
    case "rate-limited":
      return { kind: "wait", at: attempt.until, backoff: false, status: null };
    case "unreachable":
      return backoff.allowed ? { kind: "wait", at: backoff.at(), backoff: true, status: null } : attempt;
    case "retryable":
      if (!backoff.allowed) return { kind: "answer", res: attempt.res, info: attempt.info };
      await attempt.res.body?.cancel();
      return { kind: "wait", at: backoff.at(), backoff: true, status: attempt.res.status };
    case "answer":
      return attempt;
  }
}

async function attemptOnce({ limiter, provider, now, request, send }: AttemptOptions): Promise<Attempt> {
  const charge = chargeOf(provider.rateLimit, request.path, request.method, request.body);
  const bucket = limiter.bucket(charge.bucket);
  const slot = bucket.tryAcquire(bucket.estimate(charge.tokens));
  if (!slot.ok) return { kind: "no-slot", at: slot.at };
  const report = { gen: slot.gen, ticket: slot.ticket, raw: charge.tokens };
  let res: Response;
  try {
    res = await send();
  } catch (error) {
    bucket.report({ ...report, obs: {} });
    return { kind: "unreachable", error };
  }
  const t = now();
  const obs = observe(res.headers, provider.rateLimit, t);
  if (res.status < 400) {
    bucket.report({ ...report, obs });
    return { kind: "answer", res, info: null };
  }
  const peeked = await peekError(res);
  const verdict = classify(res.status, peeked.info, provider.retry, null);
  if (verdict === "wait") {
    const refusal = observeRefusal(obs, peeked.res.headers, peeked.info, provider.rateLimit, t, SAFETY_MARGIN_MS);
    bucket.report({ ...report, obs, chargedTokens: refusal.chargedTokens });
    await peeked.res.body?.cancel();
    return { kind: "rate-limited", until: t + refusal.waitMs + SAFETY_MARGIN_MS, info: peeked.info };
  }
  bucket.report({ ...report, obs });
  return verdict === "backoff" ? { kind: "retryable", res: peeked.res, info: peeked.info } : { kind: "answer", res: peeked.res, info: peeked.info };
}
