/**
 * A chat completion's `usage` object as OpenAI reports it (cached and
 * reasoning details included), and the counts terapi reads from it: shared by
 * the extractor tests for JSON answers and for streams.
 */
export const chatUsage = {
  prompt_tokens: 11,
  completion_tokens: 7,
  total_tokens: 18,
  prompt_tokens_details: { cached_tokens: 3 },
  completion_tokens_details: { reasoning_tokens: 2 },
};
export const chatUsageCounts = { input: 11, cachedInput: 3, output: 7, reasoning: 2 };
