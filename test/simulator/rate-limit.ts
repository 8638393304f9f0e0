// Rate limits as OpenAI keeps them: per key and per limit bucket (a model, a
// declared family of models, or an endpoint), requests and tokens per minute at
// once plus optional per-day limits, tokens charged up front, and every refused
// request counted against the request windows.
import type { KeyStats, Limit, Tenant } from "./state.ts";
import { goDuration } from "./util.ts";

export type Dim = "requests" | "tokens" | "requests_per_day" | "tokens_per_day";
export const DIMS: readonly Dim[] = ["requests", "tokens", "requests_per_day", "tokens_per_day"];

/** The limits of one bucket: per-minute ones always, per-day ones when configured. */
export type BucketLimits = { requests: Limit; tokens: Limit } & Partial<Record<"requests_per_day" | "tokens_per_day", Limit>>;

/** A fixed window: it starts with the first request after the previous one ended. */
interface Window {
  start: number;
  used: number;
}

/** The windows of one bucket of one key. */
export interface Bucket {
  name: string;
  windows: Record<Dim, Window>;
}

export interface BucketStats {
  requests: number;
  tokens_charged: number;
  by_kind: Record<Dim, number>;
  /** "<dim>@<window start>" of the per-minute window of the refusing dimension → 429s in it. */
  windows: Map<string, number>;
}

function newBucketStats(): BucketStats {
  return { requests: 0, tokens_charged: 0, by_kind: { requests: 0, tokens: 0, requests_per_day: 0, tokens_per_day: 0 }, windows: new Map() };
}

export function bucketStatsOf(stats: KeyStats, bucket: string): BucketStats {
  let s = stats.buckets.get(bucket);
  if (!s) {
    s = newBucketStats();
    stats.buckets.set(bucket, s);
  }
  return s;
}

export interface RateDecision {
  ok: boolean;
  bucket: string;
  headers: Record<string, string>;
  /** When !ok: the refusing limit and the numbers of OpenAI's 429 message. */
  kind?: Dim;
  limit?: number;
  used?: number;
  requested?: number;
  resetMs?: number;
}

/**
 * The bucket a request is charged to: the body's `model` for the endpoints that take one, else its
 * endpoint (`/v1/<first segment>`); then the family whose `members` list that name, if any. (Members
 * may name endpoint buckets too, so a test can put a whole key on one budget.)
 */
export function bucketName(t: Tenant, path: string, model?: string): string {
  const name = model ?? endpointBucket(path);
  if (t.models[name]) return name;
  return t.memberOf.get(name) ?? name;
}

function endpointBucket(path: string): string {
  const segs = path.split("/");
  return segs.length > 2 ? `/${segs[1]}/${segs[2]}` : path;
}

export function limitsOf(t: Tenant, bucket: string): BucketLimits {
  const m = t.models[bucket];
  return {
    requests: m?.requests ?? t.requests,
    tokens: m?.tokens ?? t.tokens,
    requests_per_day: m?.requests_per_day,
    tokens_per_day: m?.tokens_per_day,
  };
}

function bucketOf(t: Tenant, name: string): Bucket {
  let b = t.buckets.get(name);
  if (!b) {
    const w = (): Window => ({ start: -Infinity, used: 0 });
    b = { name, windows: { requests: w(), tokens: w(), requests_per_day: w(), tokens_per_day: w() } };
    t.buckets.set(name, b);
  }
  return b;
}

function expired(w: Window, l: Limit, now: number): boolean {
  return now >= w.start + l.window_ms;
}

function roll(w: Window, l: Limit, now: number): void {
  if (expired(w, l, now)) {
    w.start = now;
    w.used = 0;
  }
}

/** OpenAI's six headers, for the bucket's per-minute windows. A window not yet started reads as full and resetting now. */
function headersOf(b: Bucket, l: BucketLimits, now: number): Record<string, string> {
  const h: Record<string, string> = {};
  for (const dim of ["requests", "tokens"] as const) {
    const w = b.windows[dim];
    const live = !expired(w, l[dim], now);
    h[`x-ratelimit-limit-${dim}`] = String(l[dim].limit);
    h[`x-ratelimit-remaining-${dim}`] = String(live ? Math.max(0, l[dim].limit - w.used) : l[dim].limit);
    h[`x-ratelimit-reset-${dim}`] = goDuration(live ? w.start + l[dim].window_ms - now : 0);
  }
  return h;
}

/** Headers describing a bucket without charging anything (answers refused before the limiter). */
export function peekRate(t: Tenant, bucket: string, now: number): Record<string, string> {
  return headersOf(bucketOf(t, bucket), limitsOf(t, bucket), now);
}

/**
 * Charges one request and `tokens` tokens to the bucket, or refuses: a refusal
 * is charged one request (per-minute and per-day request windows) and no tokens.
 * When several limits refuse, the one that resets last is named, so a retry
 * after the named reset is not refused by another of them.
 */
export function takeRate(t: Tenant, bucket: string, tokens: number, now: number, stats: BucketStats): RateDecision {
  const b = bucketOf(t, bucket);
  const l = limitsOf(t, bucket);
  stats.requests++;
  let refusal: RateDecision | undefined;
  for (const dim of DIMS) {
    const lim = l[dim];
    if (!lim) continue;
    const w = b.windows[dim];
    roll(w, lim, now);
    const want = dim === "requests" || dim === "requests_per_day" ? 1 : tokens;
    if (want === 0 || w.used + want <= lim.limit) continue;
    const resetMs = w.start + lim.window_ms - now;
    if (!refusal || resetMs > (refusal.resetMs ?? 0))
      refusal = { ok: false, bucket, headers: {}, kind: dim, limit: lim.limit, used: w.used, requested: want, resetMs };
  }
  b.windows.requests.used++;
  if (l.requests_per_day) b.windows.requests_per_day.used++;
  if (refusal) {
    const kind = refusal.kind as Dim;
    stats.by_kind[kind]++;
    const perMinute = kind === "requests" || kind === "requests_per_day" ? "requests" : "tokens";
    const key = `${perMinute}@${b.windows[perMinute].start}`;
    stats.windows.set(key, (stats.windows.get(key) ?? 0) + 1);
    refusal.headers = headersOf(b, l, now);
    return refusal;
  }
  b.windows.tokens.used += tokens;
  if (l.tokens_per_day) b.windows.tokens_per_day.used += tokens;
  stats.tokens_charged += tokens;
  return { ok: true, bucket, headers: headersOf(b, l, now) };
}

const PER: Record<Dim, string> = {
  requests: "requests per min (RPM)",
  tokens: "tokens per min (TPM)",
  requests_per_day: "requests per day (RPD)",
  tokens_per_day: "tokens per day (TPD)",
};

/** OpenAI's 429 body for a refusal (a request larger than the whole limit gets OpenAI's "Request too large"). */
export function rateLimitBody(d: RateDecision, orgId: string): object {
  const kind = d.kind ?? "requests";
  const type = kind === "requests" || kind === "requests_per_day" ? "requests" : "tokens";
  const where = `for ${d.bucket} in organization ${orgId} on ${PER[kind]}`;
  const message =
    type === "tokens" && (d.requested ?? 0) > (d.limit ?? 0)
      ? `Request too large ${where}: Limit ${d.limit}, Requested ${d.requested}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`
      : `Rate limit reached ${where}: Limit ${d.limit}, Used ${d.used}, Requested ${d.requested}. Please try again in ${goDuration(d.resetMs ?? 0)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
  return { error: { message, type, param: null, code: "rate_limit_exceeded" } };
}

/** Key-level 429 counts: the sum over the key's buckets (max: the most in one bucket window). */
export function statsJson(buckets: Map<string, BucketStats>): object {
  let total = 0;
  let windows = 0;
  let max = 0;
  const out: Record<string, object> = {};
  for (const [name, s] of buckets) {
    let bMax = 0;
    let bTotal = 0;
    for (const v of s.windows.values()) {
      bMax = Math.max(bMax, v);
      bTotal += v;
    }
    total += bTotal;
    windows += s.windows.size;
    max = Math.max(max, bMax);
    out[name] = {
      requests: s.requests,
      rate_limited: { total: bTotal, windows_with_429: s.windows.size, max_429_in_one_window: bMax, by_kind: { ...s.by_kind } },
      tokens_charged: s.tokens_charged,
    };
  }
  return { rate_limited: { total, windows_with_429: windows, max_429_in_one_window: max }, buckets: out };
}
