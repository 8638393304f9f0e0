import { ApiError } from "../errors";
import type { RateLimitRules, RetryRules } from "../providers/types";
import { parseGoDuration, parseReset, parseRetryAfter, parseRetryAfterMs } from "./durations";
import { jitteredBackoffMs } from "../lib/backoff";

/** What the caller asked for, resolved against the provider's rules. */
export type RetryOptions = {
  /** Further attempts after the first. */
  retries: number;
  /** Statuses the caller wants retried (`Retry-On`); null = the provider's rules. */
  retryOn: Set<number> | null;
  /** Backoff retries (5xx, 408, network) are allowed for this method. */
  backoffAllowed: boolean;
  maxWaitMs: number;
};

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** A method whose request may be sent twice with the effect of once. */
export const isIdempotent = (method: string) => IDEMPOTENT.has(method.toUpperCase());

/** Reads `Retries` and `Retry-On`; a bad value is a 400 rather than a silent default. */
export function retryOptions(headers: Headers, method: string, rules: RetryRules): RetryOptions {
  const rawRetries = headers.get("retries");
  let retries = rules.defaultRetries;
  if (rawRetries !== null) {
    const text = rawRetries.trim();
    if (!/^\d+$/.test(text) || Number(text) > rules.maxRetries)
      throw new ApiError(400, "invalid_retries", `Retries must be an integer from 0 to ${rules.maxRetries}`);
    retries = Number(text);
  }
  const rawOn = headers.get("retry-on");
  let retryOn: Set<number> | null = null;
  if (rawOn !== null) {
    const parts = rawOn
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (parts.length === 0 || parts.some((p) => !/^[1-5]\d\d$/.test(p)))
      throw new ApiError(400, "invalid_retry_on", "Retry-On must be a comma-separated list of HTTP statuses, e.g. 429,503");
    retryOn = new Set(parts.map(Number));
  }
  // POST/PATCH are not idempotent: re-sending after a 5xx could run them twice,
  // unless the caller says it is safe (Idempotency-Key or an explicit Retries).
  const backoffAllowed = IDEMPOTENT.has(method) || headers.has("idempotency-key") || rawRetries !== null;
  return { retries, retryOn, backoffAllowed, maxWaitMs: rules.maxWaitMs };
}

export type ErrorInfo = { code?: string; type?: string; message?: string };

/** `error.code` / `error.type` / `error.message` of a provider's JSON error body, if it is one. */
export function errorInfo(body: unknown): ErrorInfo {
  if (typeof body !== "object" || body === null || !("error" in body)) return {};
  const err = (body as { error: unknown }).error;
  if (typeof err !== "object" || err === null) return {};
  const pick = (k: string) => {
    const v = (err as Record<string, unknown>)[k];
    return typeof v === "string" ? v : undefined;
  };
  return { code: pick("code"), type: pick("type"), message: pick("message") };
}

/** `wait`: the provider said when to come back. `backoff`: transient. `never`: give it to the caller. */
type Verdict = "ok" | "wait" | "backoff" | "never";

export function classify(status: number, info: ErrorInfo, rules: RetryRules, retryOn: Set<number> | null): Verdict {
  if (status < 400) return "ok";
  const codes = [info.code, info.type].filter((c): c is string => !!c);
  // Quota and billing errors come as 429 too: waiting will not help.
  if (codes.some((c) => rules.neverCodes.includes(c))) return "never";
  if (status === 429) {
    if (retryOn && !retryOn.has(429)) return "never";
    return codes.length === 0 || codes.some((c) => rules.waitCodes.includes(c)) ? "wait" : "never";
  }
  // Other 4xx (bad request, bad key, not found) fail the same way every time, whatever Retry-On says.
  if (status < 500 && !rules.backoffStatuses.includes(status)) return "never";
  if (retryOn) return retryOn.has(status) ? "backoff" : "never";
  return rules.backoffStatuses.includes(status) ? "backoff" : "never";
}

/** Which dimension a 429 is about: the error's type names it; otherwise the one at zero. */
export function limitedDimension(headers: Headers, info: ErrorInfo, rules: RateLimitRules): "requests" | "tokens" {
  if (info.type === "tokens") return "tokens";
  if (info.type === "requests") return "requests";
  const h = rules.headers;
  const remainingRequests = headers.get(h.remainingRequests);
  const remainingTokens = h.remainingTokens ? headers.get(h.remainingTokens) : null;
  return remainingTokens === "0" && remainingRequests !== "0" ? "tokens" : "requests";
}

function messageDelay(info: ErrorInfo, rules: RateLimitRules): number | null {
  if (!rules.messageResetPattern || !info.message) return null;
  const m = rules.messageResetPattern.exec(info.message);
  return m?.[1] ? parseGoDuration(m[1]) : null;
}

/**
 * How long until the provider accepts this again, from the most to the least
 * precise source; the message text only as a last resort. A long (per-day)
 * limit's wait is never read from the per-minute reset headers.
 */
export function resetDelayMs(headers: Headers, info: ErrorInfo, rules: RateLimitRules, now = Date.now()): number | null {
  const h = rules.headers;
  const long = !!(rules.longLimitPattern && info.message && rules.longLimitPattern.test(info.message));
  if (long) {
    const fromMessage = messageDelay(info, rules);
    if (fromMessage !== null) return fromMessage;
  }
  const ms = h.retryAfterMs ? parseRetryAfterMs(headers.get(h.retryAfterMs)) : null;
  if (ms !== null) return ms;
  const after = h.retryAfter ? parseRetryAfter(headers.get(h.retryAfter), now) : null;
  if (after !== null) return after;
  if (!long) {
    // The dimension that is exhausted decides; if unclear, the later of the two.
    const requests = parseReset(headers.get(h.resetRequests), rules.resetFormat, now);
    const tokens = h.resetTokens ? parseReset(headers.get(h.resetTokens), rules.resetFormat, now) : null;
    const dim = info.type === "tokens" || info.type === "requests" ? info.type : null;
    const zeroDim = limitedDimension(headers, info, rules);
    const atZero = (name: string | undefined) => (name ? headers.get(name) === "0" : false);
    const known = dim ?? (atZero(h.remainingRequests) || atZero(h.remainingTokens) ? zeroDim : null);
    if (known === "requests" && requests !== null) return requests;
    if (known === "tokens" && tokens !== null) return tokens;
    if (requests !== null || tokens !== null) return Math.max(requests ?? 0, tokens ?? 0);
  }
  return messageDelay(info, rules);
}

/** Exponential backoff with full jitter (AWS): random in [0, min(max, base·2^attempt)). */
export function backoffDelayMs(attempt: number, rules: RetryRules, random = Math.random): number {
  return jitteredBackoffMs(attempt, { baseMs: rules.baseDelayMs, capMs: rules.maxDelayMs }, random);
}

/**
 * Whether one more attempt fits in what is left of a call's bound (`maxWaitMs`
 * from its start): it starts after `delayMs` (a backoff, a rate-limit reset)
 * and may well take as long as the slowest attempt so far. Without the second
 * term, 12 s-slow 503s with Retries: 5 ran a "30 s" call to 36 s.
 */
export function attemptFits(delayMs: number, longestAttemptMs: number, budgetLeftMs: number): boolean {
  return delayMs + longestAttemptMs < budgetLeftMs;
}
