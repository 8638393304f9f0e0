import type { RateLimitRules } from "../providers/types";
import { parseReset } from "./durations";
import { type ErrorInfo, limitedDimension, resetDelayMs } from "./retry-policy";

/** What one response said about one dimension of a bucket's budget (absolute times, epoch ms). */
export type DimensionObservation = {
  /**
   * When the answer that said this arrived (epoch ms): reports reach the view and the object in any
   * order, and one observed earlier than what they hold never overwrites it. Absent: no order known.
   */
  at?: number;
  limit?: number;
  remaining?: number;
  /** When the window resets. */
  resetAt?: number;
  /** After a 429 on this dimension: nothing that needs it may go before this. */
  blockedUntil?: number;
};

type Dimension = "requests" | "tokens";

/** What one response said about its bucket's budget: requests and tokens. */
export type RateObservation = {
  requests?: DimensionObservation;
  tokens?: DimensionObservation;
};

const int = (raw: string | null) => {
  if (raw === null || !/^\s*\d+\s*$/.test(raw)) return undefined;
  return Number(raw);
};

function dimension(headers: Headers, rules: RateLimitRules, now: number, names: [string | undefined, string | undefined, string | undefined]) {
  const [l, r, s] = names;
  const d: DimensionObservation = { at: now };
  const limit = l ? int(headers.get(l)) : undefined;
  const remaining = r ? int(headers.get(r)) : undefined;
  const reset = s ? parseReset(headers.get(s), rules.resetFormat, now) : null;
  if (limit !== undefined) d.limit = limit;
  if (remaining !== undefined) d.remaining = remaining;
  if (reset !== null) d.resetAt = now + reset;
  return d;
}

/** Reads the provider's limit headers for both dimensions; empty objects when it sent none. */
export function observe(headers: Headers, rules: RateLimitRules, now = Date.now()): RateObservation {
  const h = rules.headers;
  return {
    requests: dimension(headers, rules, now, [h.limitRequests, h.remainingRequests, h.resetRequests]),
    tokens: dimension(headers, rules, now, [h.limitTokens, h.remainingTokens, h.resetTokens]),
  };
}

/**
 * A rate-limit answer: blocks the dimension it names (only that one) until its
 * reset plus `margin`, and says how long that is and, for a tokens 429, what
 * the provider charged the request (when its message says).
 */
export function observeRefusal(
  obs: RateObservation,
  headers: Headers,
  info: ErrorInfo,
  rules: RateLimitRules,
  now: number,
  margin: number,
): { waitMs: number; dimension: Dimension; chargedTokens: number | null } {
  const waitMs = resetDelayMs(headers, info, rules, now) ?? 1_000;
  const dim = limitedDimension(headers, info, rules);
  const d = (obs[dim] ??= {});
  d.blockedUntil = now + waitMs + margin;
  let chargedTokens: number | null = null;
  if (dim === "tokens" && rules.requestedTokensPattern && info.message) {
    const m = rules.requestedTokensPattern.exec(info.message);
    if (m?.[1]) chargedTokens = Number(m[1]);
  }
  return { waitMs, dimension: dim, chargedTokens };
}

/** Was `o` observed before `heldAt` (the time of the observation already held)? Then it must not replace it. */
export const observedBefore = (o: DimensionObservation, heldAt: number) => o.at !== undefined && o.at < heldAt;
