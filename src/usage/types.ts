/**
 * Usage per connection: what a provider's responses report (tokens), what
 * terapi counts itself (requests, errors), and the rules to read them, which
 * are provider data (`ProviderDefinition.usage`).
 */

/** Where a feature's usage came from: a proxied call, an action, or a sync page. */
export type UsageSource = "proxy" | "action" | "sync";
export const USAGE_SOURCES = ["proxy", "action", "sync"] as const satisfies readonly UsageSource[];

/** Token counts of one response (zeros when it reports none). */
export type TokenCounts = { input: number; cachedInput: number; output: number; reasoning: number };

/** One counted call, buffered in the isolate and written with the operation log's batch. */
export type UsageSample = TokenCounts & {
  at: number;
  /** The model the response named (an error: the one its request named, when read); `unknown` when none did. */
  model: string;
  source: UsageSource;
  error: boolean;
  /** Tokens were estimated (a stream that carried no usage), not reported by the provider. */
  estimated: boolean;
};

/** How to read usage from one provider's responses. */
export type UsageRules = {
  /** Endpoints whose successful responses report usage: method and path (exact, after the base URL). */
  endpoints: Array<{ method: string; path: string }>;
  /** Dotted paths inside a `usage` object, first present wins. */
  fields: { input: string[]; cachedInput: string[]; output: string[]; reasoning: string[] };
  /** In a JSON body, or one SSE event's data: dotted paths to the usage object and the model (first present wins). */
  usagePaths: string[];
  modelPaths: string[];
  /** Streams without usage: the text deltas to estimate output tokens from (dotted paths in each event's data). */
  deltaPaths: string[];
  /** Characters per token for estimates. */
  charsPerToken: number;
};

/** Price of one model in USD per million tokens. */
export type ModelPrice = { input: number; cached_input: number; output: number };

/** A provider's price list; `version` is reported with every cost computed from it. */
export type PriceTable = { version: string; models: Record<string, ModelPrice> };

/** Optional cap on a connection's usage, per UTC day or month. */
export type UsageCap = { metric: "tokens" | "cost"; period: "day" | "month"; limit: number };

/** Sums over a set of samples (one bucket, one group, or a period). */
export type UsageTotals = {
  requests: number;
  errors: number;
  estimated_requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
};

export const emptyTotals = (): UsageTotals => ({
  requests: 0,
  errors: 0,
  estimated_requests: 0,
  input_tokens: 0,
  cached_input_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
});

export function addTotals(into: UsageTotals, t: UsageTotals): UsageTotals {
  into.requests += t.requests;
  into.errors += t.errors;
  into.estimated_requests += t.estimated_requests;
  into.input_tokens += t.input_tokens;
  into.cached_input_tokens += t.cached_input_tokens;
  into.output_tokens += t.output_tokens;
  into.reasoning_tokens += t.reasoning_tokens;
  return into;
}
