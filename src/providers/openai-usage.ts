import type { PriceTable, UsageRules } from "../usage/types";

/**
 * Where OpenAI reports usage: the `usage` object of JSON answers (chat
 * completions, responses, embeddings, completions, image generation, audio
 * transcription with token models) and of streams (chat's final chunk when the
 * caller asked for `stream_options.include_usage`; the Responses API's
 * `response.completed` / `response.incomplete` event, under `response`).
 */
export const openaiUsage: UsageRules = {
  endpoints: [
    { method: "POST", path: "/v1/chat/completions" },
    { method: "POST", path: "/v1/responses" },
    { method: "POST", path: "/v1/embeddings" },
    { method: "POST", path: "/v1/completions" },
    { method: "POST", path: "/v1/images/generations" },
    { method: "POST", path: "/v1/images/edits" },
    { method: "POST", path: "/v1/audio/transcriptions" },
  ],
  fields: {
    input: ["prompt_tokens", "input_tokens"],
    cachedInput: ["prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens"],
    output: ["completion_tokens", "output_tokens"],
    reasoning: ["completion_tokens_details.reasoning_tokens", "output_tokens_details.reasoning_tokens"],
  },
  usagePaths: ["usage", "response.usage"],
  modelPaths: ["model", "response.model"],
  deltaPaths: ["choices.0.delta.content", "delta"],
  charsPerToken: 4,
};

/**
 * OpenAI's list prices in USD per million tokens (standard tier). A dated
 * model name (`gpt-4o-mini-2024-07-18`) takes its base model's price (longest
 * prefix). Override per environment with `PATCH /environment {usage_prices}`.
 */
export const openaiPrices: PriceTable = {
  version: "openai-2025-08-standard",
  models: {
    "gpt-5": { input: 1.25, cached_input: 0.125, output: 10 },
    "gpt-5-mini": { input: 0.25, cached_input: 0.025, output: 2 },
    "gpt-5-nano": { input: 0.05, cached_input: 0.005, output: 0.4 },
    "gpt-4.1": { input: 2, cached_input: 0.5, output: 8 },
    "gpt-4.1-mini": { input: 0.4, cached_input: 0.1, output: 1.6 },
    "gpt-4.1-nano": { input: 0.1, cached_input: 0.025, output: 0.4 },
    "gpt-4o": { input: 2.5, cached_input: 1.25, output: 10 },
    "gpt-4o-mini": { input: 0.15, cached_input: 0.075, output: 0.6 },
    o1: { input: 15, cached_input: 7.5, output: 60 },
    o3: { input: 2, cached_input: 0.5, output: 8 },
    "o3-mini": { input: 1.1, cached_input: 0.55, output: 4.4 },
    "o4-mini": { input: 1.1, cached_input: 0.275, output: 4.4 },
    "text-embedding-3-small": { input: 0.02, cached_input: 0.02, output: 0 },
    "text-embedding-3-large": { input: 0.13, cached_input: 0.13, output: 0 },
    "text-embedding-ada-002": { input: 0.1, cached_input: 0.1, output: 0 },
    "gpt-image-1": { input: 5, cached_input: 1.25, output: 40 },
    "gpt-4o-transcribe": { input: 2.5, cached_input: 2.5, output: 10 },
    "gpt-4o-mini-transcribe": { input: 1.25, cached_input: 1.25, output: 5 },
  },
};
