import type { RateLimitRules } from "../providers/types";
import { parseReset } from "./durations";

/** What one response said about a connection's request budget (absolute times, epoch ms). */
export type RateObservation = {
  limit?: number;
  remaining?: number;
  /** When the requests window resets. */
  resetAt?: number;
  /** After a 429: nothing may go before this. */
  blockedUntil?: number;
};

const int = (raw: string | null) => {
  if (raw === null || !/^\s*\d+\s*$/.test(raw)) return undefined;
  return Number(raw);
};

/** Reads the provider's request-limit headers; an empty object when it sent none. */
export function observe(headers: Headers, rules: RateLimitRules, now = Date.now()): RateObservation {
  const h = rules.headers;
  const obs: RateObservation = {};
  const limit = int(headers.get(h.limitRequests));
  const remaining = int(headers.get(h.remainingRequests));
  const reset = parseReset(headers.get(h.resetRequests), rules.resetFormat, now);
  if (limit !== undefined) obs.limit = limit;
  if (remaining !== undefined) obs.remaining = remaining;
  if (reset !== null) obs.resetAt = now + reset;
  return obs;
}

export const knowsBudget = (o: RateObservation) => o.limit !== undefined && o.remaining !== undefined;
