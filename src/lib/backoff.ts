/** Exponential backoff's bounds: the first delay and the most any delay may be. */
export type BackoffRules = { baseMs: number; capMs: number };

/** The ceiling after `doublings` doublings: min(cap, base·2^doublings) (a negative count is none). */
export function backoffCeilingMs(doublings: number, rules: BackoffRules): number {
  return Math.min(rules.capMs, rules.baseMs * 2 ** Math.max(0, doublings));
}

/** Exponential backoff with full jitter (AWS): uniform in [0, ceiling). */
export function jitteredBackoffMs(doublings: number, rules: BackoffRules, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingMs(doublings, rules));
}
