/**
 * One delivery attempt to a user's webhook URL and the retry policy around it.
 * Pure functions plus one `fetch`: the outbox decides when to call them.
 */
import { parseRetryAfter } from "../proxy/durations";
import { readCapped } from "../lib/read-capped";
import { backoffCeilingMs, jitteredBackoffMs, type BackoffRules } from "../lib/backoff";

/** Deliveries are retried for this long after they are created (or redelivered), then marked failed. */
export const DELIVERY_WINDOW_MS = 24 * 60 * 60 * 1000;
export const ATTEMPT_TIMEOUT_MS = 10_000;
const RESPONSE_SNIPPET_BYTES = 1024;
const BACKOFF: BackoffRules = { baseMs: 5_000, capMs: 60 * 60 * 1000 };
/** Full jitter may draw ~0; a floor keeps a failing receiver from being hammered. */
const BACKOFF_FLOOR_MS = 1_000;

export type AttemptOutcome = "delivered" | "retry" | "failed";

export type AttemptResult = {
  outcome: AttemptOutcome;
  status_code: number | null;
  duration_ms: number;
  response_snippet: string | null;
  error: string | null;
  /** From a 429's (or 503's) `Retry-After`, when present. */
  retry_after_ms: number | null;
};

/**
 * 2xx delivered; 5xx and 429 retried; any other status (other 4xx, and 3xx:
 * redirects are not followed, since the signature covers the body and not the
 * URL and a redirect usually means a misconfigured URL) fails without retry —
 * fix the URL, then redeliver.
 */
export function classifyStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 429 || status >= 500) return "retry";
  return "failed";
}

/** Exponential backoff with full jitter: uniform in [floor, min(cap, base·2^(n-1))] after the n-th failed attempt. */
export function backoffDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  return Math.max(BACKOFF_FLOOR_MS, jitteredBackoffMs(failedAttempts - 1, BACKOFF, random));
}

/** The highest delay `backoffDelayMs` can return after n failed attempts (tests check alarms against it). */
export function maxBackoffDelayMs(failedAttempts: number): number {
  return Math.max(BACKOFF_FLOOR_MS, backoffCeilingMs(failedAttempts - 1, BACKOFF));
}

/** When to try again after a retryable failure; null when that falls past the deadline. */
export function nextAttemptAt(result: AttemptResult, failedAttempts: number, now: number, deadline: number): number | null {
  const backoff = backoffDelayMs(failedAttempts);
  const delay = result.retry_after_ms !== null ? Math.max(result.retry_after_ms, BACKOFF_FLOOR_MS) : backoff;
  const at = now + delay;
  return at > deadline ? null : at;
}

type DeliveryRequest = {
  url: string;
  headers: Record<string, string>;
  body: string;
};

/** POSTs once, never following redirects, and reports what happened (never throws). */
export async function attemptDelivery(request: DeliveryRequest, timeoutMs = ATTEMPT_TIMEOUT_MS): Promise<AttemptResult> {
  const started = Date.now();
  // Not AbortSignal.timeout(): its timer outlives a fast answer and keeps the
  // Durable Object busy (and billed, and not evictable) until it fires.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("timeout", "TimeoutError")), timeoutMs);
  try {
    const res = await fetch(request.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
    const snippet = await readSnippet(res, RESPONSE_SNIPPET_BYTES);
    const outcome = classifyStatus(res.status);
    return {
      outcome,
      status_code: res.status,
      duration_ms: Date.now() - started,
      response_snippet: snippet,
      error: outcome === "failed" && res.status >= 300 && res.status < 400 ? "redirect not followed" : null,
      retry_after_ms: outcome === "retry" ? parseRetryAfter(res.headers.get("retry-after"), Date.now()) : null,
    };
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return {
      outcome: "retry",
      status_code: null,
      duration_ms: Date.now() - started,
      response_snippet: null,
      error: timedOut ? `timeout after ${timeoutMs} ms` : `network error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500),
      retry_after_ms: null,
    };
  } finally {
    clearTimeout(timer);
  }
}

const decoder = new TextDecoder();

/** Up to `limit` bytes of the response as text; the rest is cancelled, not read. */
async function readSnippet(res: Response, limit: number): Promise<string | null> {
  // Most receivers answer a few bytes with a length: read in one native call, no reader loop
  // (not when compressed: the declared length is not the size of what would be read).
  const declared = res.headers.has("content-encoding") ? NaN : Number(res.headers.get("content-length") ?? NaN);
  const text = declared <= limit ? await res.text() : decoder.decode((await readCapped(res.body, limit)).bytes);
  return text.length ? text : null;
}
