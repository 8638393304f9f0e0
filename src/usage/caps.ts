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
};

export function capState(cap: UsageCap, used: number, now: number, prices: PriceTable): CapState {
  const { start, end } = periodOf(cap.period, now);
  const ratio = cap.limit > 0 ? used / cap.limit : 1;
  return { cap, used, ratio, blocked: used >= cap.limit, period_start: start, period_end: end, price_version: prices.version };
}
