import { ApiError } from "../errors";
import { costOf, priceOf } from "./prices";
import { periodOf } from "./store";
import type { PriceTable, UsageCap, UsageTotals } from "./types";

/** Webhook thresholds, in percent of the cap; each goes out once per period. */
export const CAP_THRESHOLDS = [80, 100] as const;

/** What counts toward a cap: total tokens (input + output, as OpenAI's total_tokens) or USD. */
export function capAmount(cap: Pick<UsageCap, "metric">, rows: Array<UsageTotals & { model: string }>, prices: PriceTable): number {
  let used = 0;
  for (const r of rows) used += cap.metric === "tokens" ? r.input_tokens + r.output_tokens : costOf(r, priceOf(prices, r.model));
  return used;
}

export type CapState = {
  cap: UsageCap;
  used: number;
  /** used / limit. */
  ratio: number;
  blocked: boolean;
  period_start: number;
  period_end: number;
  price_version: string;
  /** A cost cap's price table (the environment's override included): the proxy's quick check counts with it. */
  prices?: PriceTable;
};

export function capState(cap: UsageCap, used: number, now: number, prices: PriceTable): CapState {
  const { start, end } = periodOf(cap.period, now);
  const ratio = cap.limit > 0 ? used / cap.limit : 1;
  return {
    cap,
    used,
    ratio,
    blocked: used >= cap.limit,
    period_start: start,
    period_end: end,
    price_version: prices.version,
    ...(cap.metric === "cost" ? { prices } : {}),
  };
}

/** The 429 `usage_cap_reached` of a connection whose cap is reached (the proxy's, an action's, an async job's). */
export function capReachedError(connectionId: string, s: CapState, now = Date.now()): ApiError {
  const { cap } = s;
  const seconds = Math.max(1, Math.ceil((s.period_end - now) / 1000));
  return new ApiError(
    429,
    "usage_cap_reached",
    `Connection '${connectionId}' reached its usage cap of ${cap.limit} ${cap.metric === "cost" ? "USD" : "tokens"} per ${cap.period}`,
    { metric: cap.metric, period: cap.period, limit: cap.limit, used: s.used, resets_at: new Date(s.period_end).toISOString() },
    { "retry-after": String(seconds) },
  );
}
