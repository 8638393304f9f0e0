import type { KeyStats, Limit } from "./state.ts";
import { goDuration } from "./util.ts";

/** Fixed windows for requests and tokens. */
export interface RateState {
  reqStart: number;
  reqUsed: number;
  tokStart: number;
  tokUsed: number;
}

export function newRateState(): RateState {
  return { reqStart: 0, reqUsed: 0, tokStart: 0, tokUsed: 0 };
}

export interface RateDecision {
  ok: boolean;
  headers: Record<string, string>;
  /** When !ok: which limit, and the OpenAI 429 details. */
  kind?: "requests" | "tokens";
  limit?: number;
  used?: number;
  requested?: number;
  resetMs?: number;
}

interface LimitsOf {
  requests: Limit;
  tokens: Limit;
  rate: RateState;
}

function roll(t: LimitsOf, now: number): void {
  const r = t.rate;
  if (now >= r.reqStart + t.requests.window_ms) {
    r.reqStart = now;
    r.reqUsed = 0;
  }
  if (now >= r.tokStart + t.tokens.window_ms) {
    r.tokStart = now;
    r.tokUsed = 0;
  }
}

function headersOf(t: LimitsOf, now: number): Record<string, string> {
  const r = t.rate;
  return {
    "x-ratelimit-limit-requests": String(t.requests.limit),
    "x-ratelimit-remaining-requests": String(Math.max(0, t.requests.limit - r.reqUsed)),
    "x-ratelimit-reset-requests": goDuration(r.reqStart + t.requests.window_ms - now),
    "x-ratelimit-limit-tokens": String(t.tokens.limit),
    "x-ratelimit-remaining-tokens": String(Math.max(0, t.tokens.limit - r.tokUsed)),
    "x-ratelimit-reset-tokens": goDuration(r.tokStart + t.tokens.window_ms - now),
  };
}

/** Headers describing the current windows without consuming anything. */
export function peekRate(t: LimitsOf, now: number): Record<string, string> {
  roll(t, now);
  return headersOf(t, now);
}

/** Consumes one request and `tokens` tokens, or refuses (a refusal consumes nothing). */
export function takeRate(t: LimitsOf, tokens: number, now: number, stats: KeyStats): RateDecision {
  roll(t, now);
  const r = t.rate;
  if (r.reqUsed + 1 > t.requests.limit) {
    count429(stats, "r" + r.reqStart);
    return { ok: false, headers: headersOf(t, now), kind: "requests", limit: t.requests.limit, used: r.reqUsed, requested: 1, resetMs: r.reqStart + t.requests.window_ms - now };
  }
  if (tokens > 0 && r.tokUsed + tokens > t.tokens.limit) {
    count429(stats, "t" + r.tokStart);
    return { ok: false, headers: headersOf(t, now), kind: "tokens", limit: t.tokens.limit, used: r.tokUsed, requested: tokens, resetMs: r.tokStart + t.tokens.window_ms - now };
  }
  r.reqUsed++;
  r.tokUsed += tokens;
  return { ok: true, headers: headersOf(t, now) };
}

function count429(stats: KeyStats, window: string): void {
  stats.rl_total++;
  stats.rl_windows.set(window, (stats.rl_windows.get(window) ?? 0) + 1);
}

export function rateLimitBody(d: RateDecision, model: string, orgId: string): object {
  const per = d.kind === "tokens" ? "tokens per min (TPM)" : "requests per min (RPM)";
  return {
    error: {
      message: `Rate limit reached for ${model} in organization ${orgId} on ${per}: Limit ${d.limit}, Used ${d.used}, Requested ${d.requested}. Please try again in ${goDuration(d.resetMs ?? 0)}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: d.kind,
      param: null,
      code: "rate_limit_exceeded",
    },
  };
}
