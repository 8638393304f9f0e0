import type { LimitBucketRules, RateLimitRules, TokenEstimateRules } from "../providers/types";

/** What a request draws from its connection's limits: its bucket and its raw token estimate (before calibration). */
type Charge = {
  bucket: string;
  tokens: number;
  /** The model the body named, as named (usage counts an error under it). */
  model?: string;
};

const decoder = new TextDecoder();

/** Family member -> bucket, built once per rules object. */
const familyIndex = new WeakMap<LimitBucketRules, Map<string, string>>();
function familyOf(rules: LimitBucketRules, model: string): string {
  let index = familyIndex.get(rules);
  if (!index) {
    index = new Map();
    for (const [bucket, members] of Object.entries(rules.families)) for (const m of members) index.set(m, bucket);
    familyIndex.set(rules, index);
  }
  return index.get(model) ?? model;
}

/** `/v1/files/file-1/content` -> `/v1/files` (depth 2). */
export function endpointBucket(path: string, depth: number): string {
  let end = 0;
  for (let i = 0; i < depth; i++) {
    const next = path.indexOf("/", end + 1);
    if (next === -1) return path;
    end = next;
  }
  return path.slice(0, end);
}

const startsWithAny = (path: string, prefixes: string[]) => prefixes.some((p) => path.startsWith(p));

/** Does a body sent to `path` name the model whose budget it draws from? */
export const namesModel = (rules: RateLimitRules, path: string) => startsWithAny(path, rules.buckets.modelEndpoints);

/** Characters of the text under a prompt field: strings, arrays of them, and the text keys of objects. */
function textChars(v: unknown, rules: TokenEstimateRules, depth = 0): number {
  if (typeof v === "string") return v.length;
  // Token arrays (embeddings of pre-tokenised input): one token each.
  if (typeof v === "number") return rules.charsPerToken;
  if (depth > 8 || typeof v !== "object" || v === null) return 0;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) n += textChars(x, rules, depth + 1);
    return n;
  }
  const o = v as Record<string, unknown>;
  for (const k of rules.textKeys) if (k in o) n += textChars(o[k], rules, depth + 1);
  return n;
}

/** The provider's up-front charge for a JSON body, by its estimator rules (uncalibrated). */
function estimateTokens(rules: TokenEstimateRules, path: string, body: Record<string, unknown>): number {
  let chars = 0;
  for (const f of rules.promptFields) if (f in body) chars += textChars(body[f], rules);
  const prompt = Math.ceil(chars / rules.charsPerToken);
  if (startsWithAny(path, rules.inputOnlyEndpoints)) return prompt;
  let max = rules.defaultMaxOutput;
  for (const f of rules.maxOutputFields) {
    const v = body[f];
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) {
      max = v;
      break;
    }
  }
  const count = body[rules.countField];
  const n = typeof count === "number" && Number.isInteger(count) && count > 0 ? count : 1;
  return prompt + max * n;
}

/**
 * The JSON object body of a request to an endpoint that names a model, or
 * null: only a body already in memory is read (never a stream), and only
 * when it is a JSON object (multipart is never decoded).
 */
function modelBody(rules: RateLimitRules, path: string, method: string, body: ArrayBuffer | ReadableStream | null): Record<string, unknown> | null {
  if (method !== "POST" || !(body instanceof ArrayBuffer) || body.byteLength === 0 || !startsWithAny(path, rules.buckets.modelEndpoints)) return null;
  // A JSON object starts with `{` (what the SDKs send): anything else (multipart) is never decoded.
  if (new Uint8Array(body, 0, 1)[0] !== 0x7b) return null;
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    // Multipart (audio, image edits) or not JSON.
    return null;
  }
  return typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
}

const modelIn = (rules: RateLimitRules, o: Record<string, unknown> | null): string | null => {
  const model = o?.[rules.buckets.modelField];
  return typeof model === "string" && model !== "" ? model : null;
};

/**
 * The bucket and token estimate of a request, from the provider's rules.
 * Only a body already in memory is read (a stream is charged to its endpoint,
 * never buffered for this), and only for endpoints that name a model.
 */
export function chargeOf(rules: RateLimitRules, path: string, method: string, body: ArrayBuffer | ReadableStream | null): Charge {
  const b = rules.buckets;
  const o = modelBody(rules, path, method, body);
  const model = modelIn(rules, o);
  // Otherwise the endpoint's bucket.
  if (o === null || model === null) return { bucket: endpointBucket(path, b.endpointDepth), tokens: 0 };
  return { bucket: familyOf(b, model), tokens: estimateTokens(rules.tokens, path, o) };
}

/** The model a request's body names, read as `chargeOf` reads it (usage counts an error under it); null when none. */
export function requestModel(rules: RateLimitRules, path: string, method: string, body: ArrayBuffer | ReadableStream | null): string | null {
  return modelIn(rules, modelBody(rules, path, method, body));
}
