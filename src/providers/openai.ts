import { openaiSyncs } from "./openai-syncs";
import { openaiPrices, openaiUsage } from "./openai-usage";
import type { ProviderDefinition, RateLimitRules, RetryRules } from "./types";

const rateLimit: RateLimitRules = {
  headers: {
    limitRequests: "x-ratelimit-limit-requests",
    remainingRequests: "x-ratelimit-remaining-requests",
    resetRequests: "x-ratelimit-reset-requests",
    limitTokens: "x-ratelimit-limit-tokens",
    remainingTokens: "x-ratelimit-remaining-tokens",
    resetTokens: "x-ratelimit-reset-tokens",
    retryAfterMs: "retry-after-ms",
    retryAfter: "retry-after",
  },
  resetFormat: "go-duration",
  // Longer units first, or "20ms" would read as 20 minutes.
  messageResetPattern: /try again in ((?:\d+(?:\.\d+)?(?:ms|us|µs|μs|ns|h|m|s))+)/i,
  // "... on requests per day (RPD): ..." / "tokens per day (TPD)".
  longLimitPattern: /per day/i,
  requestedTokensPattern: /Requested (\d+)\b/,
  // Limits are per model (a few models share one): https://platform.openai.com/docs/guides/rate-limits
  buckets: {
    modelEndpoints: ["/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/moderations", "/v1/images/", "/v1/audio/"],
    modelField: "model",
    // Dated snapshots draw from their model's budget.
    families: {
      "gpt-4o": ["gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"],
      "gpt-4o-mini": ["gpt-4o-mini-2024-07-18"],
    },
    endpointDepth: 2,
  },
  tokens: {
    promptFields: ["messages", "input", "prompt", "instructions"],
    textKeys: ["content", "text", "input"],
    maxOutputFields: ["max_completion_tokens", "max_tokens", "max_output_tokens"],
    defaultMaxOutput: 256,
    countField: "n",
    charsPerToken: 4,
    inputOnlyEndpoints: ["/v1/embeddings", "/v1/moderations"],
  },
};

const retry: RetryRules = {
  waitCodes: ["rate_limit_exceeded", "slow_down", "requests", "tokens"],
  neverCodes: [
    "insufficient_quota",
    "credit_balance_exhausted",
    "billing_hard_limit_reached",
    "billing_not_active",
    "spend_limit_reached",
    "usage_limit_reached",
    "access_terminated",
  ],
  backoffStatuses: [408, 409, 500, 502, 503, 504],
  defaultRetries: 2,
  maxRetries: 10,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxWaitMs: 30_000,
};

const shared = {
  authMode: "API_KEY",
  baseUrl: "https://api.openai.com",
  baseUrlVar: "OPENAI_BASE_URL",
  authHeaders: {
    authorization: "Bearer ${apiKey}",
    "openai-organization": "${organization_id}",
    "openai-project": "${project_id}",
  },
  rateLimit,
  retry,
  webhooks: {
    scheme: "standard-webhooks",
    toleranceSeconds: 300,
    syncsByEventPrefix: { "batch.": ["batches"], "fine_tuning.job.": ["fine-tuning-jobs"] },
  },
  // Both definitions carry all of them; each sync's keyKind picks the ones a connection's key can run.
  syncs: openaiSyncs,
  usage: openaiUsage,
  prices: openaiPrices,
} satisfies Partial<ProviderDefinition>;

/** OpenAI with a project or user key; checked with `GET /v1/models`. */
export const openai: ProviderDefinition = {
  ...shared,
  name: "openai",
  displayName: "OpenAI",
  acceptsKey: (key) => !key.startsWith("sk-admin-"),
  credentialCheck: {
    method: "GET",
    path: "/v1/models",
    validStatuses: [200],
    // A restricted key without the models scope is still a valid key.
    validForbiddenMessage: /missing scopes|insufficient permissions/i,
  },
};

/** OpenAI with an admin key (`sk-admin-…`); checked through an admin endpoint. */
export const openaiAdmin: ProviderDefinition = {
  ...shared,
  name: "openai-admin",
  displayName: "OpenAI (admin key)",
  acceptsKey: (key) => key.startsWith("sk-admin-"),
  credentialCheck: { method: "GET", path: "/v1/organization/projects?limit=1", validStatuses: [200] },
};
