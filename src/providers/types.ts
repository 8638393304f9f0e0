import type { PriceTable, UsageRules } from "../usage/types";

/**
 * A provider is data: everything terapi needs to talk to one upstream API.
 * Adding a provider means adding a definition to the registry, never touching
 * route or proxy code.
 */
export type ProviderDefinition = {
  /** Registry name, e.g. `openai`. */
  name: string;
  displayName: string;
  authMode: "API_KEY";
  /** Base URL; `baseUrlVar` names the Worker variable that overrides it (never per request). */
  baseUrl: string;
  baseUrlVar?: keyof Env;
  /** Headers sent upstream on every call; `${apiKey}`, `${organization_id}`, `${project_id}` are filled from the connection. Empty values drop the header. */
  authHeaders: Record<string, string>;
  /** Does this provider take the given key? (e.g. `openai-admin` takes `sk-admin-…`.) */
  acceptsKey?: (apiKey: string) => boolean;
  /** How a key is checked before it is stored. */
  credentialCheck: CredentialCheck;
  rateLimit: RateLimitRules;
  retry: RetryRules;
  /** Standard Webhooks verification of inbound webhooks, if the provider sends them. */
  webhooks?: { scheme: "standard-webhooks"; toleranceSeconds: number; syncsByEventPrefix: Record<string, string[]> };
  /** Lists copied into records on a schedule (see `SyncDefinition`). */
  syncs?: SyncDefinition[];
  /** Where responses report token usage, and the price list cost is computed from. */
  usage?: UsageRules;
  prices?: PriceTable;
};

/** How a list endpoint hands out its next page. */
export type Pagination =
  /** `?after=<last id>&limit=` while the body says `has_more` (OpenAI's usual lists). */
  | { type: "cursor"; limitParam: string; pageSize: number; cursorParam: string; hasMoreField: string }
  /** The body names the next page's URL (absolute or a path), null at the end. */
  | { type: "next"; nextField: string }
  /** `?page=<token>` from the body's `next_page` (OpenAI's usage/costs). */
  | { type: "page"; limitParam: string; pageSize: number; pageParam: string; nextField: string }
  /** One response holds the whole list. */
  | { type: "none" };

/**
 * A sync: one list endpoint walked in full on a schedule, its items stored as
 * records of `model`. Lists without an "updated since" filter are walked whole
 * and diffed by content hash.
 */
export type SyncDefinition = {
  /** Sync name (`POST /sync/trigger {syncs}`), e.g. `fine-tuning-jobs`. */
  name: string;
  /** Record model (`GET /records?model=`). */
  model: string;
  description: string;
  /** Path under the provider's base URL. */
  endpoint: string;
  /** Extra query parameters, computed when a run starts (e.g. a time window). */
  params?: (now: number) => Record<string, string>;
  pagination: Pagination;
  /** Field of the list body holding the items. */
  dataField: string;
  /** Field of an item that identifies it (numbers are stored as strings). */
  idField: string;
  /** Default schedule, e.g. `every hour` (minimum 30 seconds). */
  frequency: string;
  /** Items missing from a complete walk become DELETED (off for sliding windows such as daily costs). */
  trackDeletes: boolean;
  /** Which provider definition's keys can run it (`openai` vs `openai-admin`), as chosen by `acceptsKey`. */
  keyKind: string;
};

export type CredentialCheck = {
  method: "GET";
  path: string;
  /** Statuses that mean the key is valid (a restricted key's 403 "missing scopes" for OpenAI). */
  validStatuses: number[];
  /** A 403 is valid when its error message matches this (restricted keys lacking a scope). */
  validForbiddenMessage?: RegExp;
};

export type RateLimitRules = {
  /** Response headers the provider uses, by dimension. */
  headers: {
    limitRequests: string;
    remainingRequests: string;
    resetRequests: string;
    limitTokens?: string;
    remainingTokens?: string;
    resetTokens?: string;
    retryAfterMs?: string;
    retryAfter?: string;
  };
  /** Format of the reset headers. */
  resetFormat: "go-duration" | "seconds" | "epoch-seconds";
  /** Last resort: a regex with one capture group holding a duration in the error message. */
  messageResetPattern?: RegExp;
  /** A 429 whose message matches this is a long (e.g. per-day) limit: its wait comes from the message or Retry-After, never the per-minute reset headers. */
  longLimitPattern?: RegExp;
  /** One capture group: the tokens the provider charged the refused request (a tokens 429's message), to calibrate estimates. */
  requestedTokensPattern?: RegExp;
  /** Which budget ("bucket") a request draws from. */
  buckets: LimitBucketRules;
  /** How a request's token charge is estimated before it is sent. */
  tokens: TokenEstimateRules;
};

/**
 * Buckets: a request to one of `modelEndpoints` with a small JSON body is
 * charged to its model's bucket (or the declared family's); anything else to
 * its endpoint's bucket, the first `endpointDepth` segments of its path.
 */
export type LimitBucketRules = {
  /** Path prefixes whose JSON body names the model charged. */
  modelEndpoints: string[];
  /** The body field naming the model. */
  modelField: string;
  /** Bucket name -> other model names sharing its budget. Undeclared models are their own bucket. */
  families: Record<string, string[]>;
  endpointDepth: number;
};

/**
 * The up-front token charge: ceil(prompt characters / charsPerToken) plus the
 * max output tokens x `countField`. Calibrated per bucket from what the
 * provider reports (see src/proxy/calibration.ts).
 */
export type TokenEstimateRules = {
  /** Body fields holding the prompt (strings, arrays, message objects). */
  promptFields: string[];
  /** Inside objects of a prompt, the keys holding text (message content, text parts). */
  textKeys: string[];
  /** Max-output fields, first present wins. */
  maxOutputFields: string[];
  /** Charged as output when none of `maxOutputFields` is given. */
  defaultMaxOutput: number;
  /** Number of choices (multiplies the output charge). */
  countField: string;
  charsPerToken: number;
  /** Path prefixes charged their input only (embeddings, moderations). */
  inputOnlyEndpoints: string[];
};

export type RetryRules = {
  /** Error codes (body `error.code` / `error.type`) that mean "wait for the reset, then retry". */
  waitCodes: string[];
  /** Error codes that are never retried (quota, billing, spend limits). */
  neverCodes: string[];
  /** Statuses retried with exponential backoff (idempotent methods; POST only with Idempotency-Key or Retries). */
  backoffStatuses: number[];
  defaultRetries: number;
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** One request never waits longer than this in total; past it the caller gets the 429. */
  maxWaitMs: number;
};
