import type { Completion } from "./text.ts";
import type { Obj } from "./util.ts";

/**
 * Token counts as OpenAI reports them, made deterministic so tests can compute
 * expected sums:
 * - cached input: a prompt this key already sent (same messages/input and
 *   instructions) is served from the prompt cache, all of its input tokens;
 * - reasoning: reasoning models (`o1`, `o3-mini`, `o4-mini`, `gpt-5*`) think
 *   twice as many tokens as they answer; those count in the output tokens.
 */
export interface TokenCounts {
  input: number;
  cachedInput: number;
  output: number;
  reasoning: number;
}

const REASONING_MODEL = /^(o\d|gpt-5)/;

/** Prompts each key sent so far (keyed by the tenant object: forgotten with it). */
const seenPrompts = new WeakMap<object, Set<string>>();

function promptKey(body: Obj): string {
  return JSON.stringify([body.messages ?? body.input ?? null, body.instructions ?? null]);
}

export function isReasoningModel(model: string): boolean {
  return REASONING_MODEL.test(model);
}

/** Counts one completion; `cacheOwner` (the key's tenant) remembers prompts for the cache (batches pass none). */
export function countTokens(c: Completion, body: Obj, model: string, cacheOwner?: object): TokenCounts {
  let cachedInput = 0;
  if (cacheOwner) {
    let seen = seenPrompts.get(cacheOwner);
    if (!seen) seenPrompts.set(cacheOwner, (seen = new Set()));
    const key = promptKey(body);
    if (seen.has(key)) cachedInput = c.promptTokens;
    else seen.add(key);
  }
  const reasoning = isReasoningModel(model) ? 2 * c.completionTokens : 0;
  return { input: c.promptTokens, cachedInput, output: c.completionTokens + reasoning, reasoning };
}

/** Chat Completions' `usage`. */
export function chatUsage(t: TokenCounts): object {
  return {
    prompt_tokens: t.input,
    completion_tokens: t.output,
    total_tokens: t.input + t.output,
    prompt_tokens_details: { cached_tokens: t.cachedInput, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: t.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** The Responses API's `usage`. */
export function responsesUsage(t: TokenCounts): object {
  return {
    input_tokens: t.input,
    input_tokens_details: { cached_tokens: t.cachedInput, cache_write_tokens: 0 },
    output_tokens: t.output,
    output_tokens_details: { reasoning_tokens: t.reasoning },
    total_tokens: t.input + t.output,
  };
}
