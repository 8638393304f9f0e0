import { createJsonCollector, createSseScanner } from "./extract";
import { reportsUsage } from "./tap";
import type { UsageRules, UsageSample, UsageSource } from "./types";

/** One upstream answer whose body is already in memory (work that runs inside the connection's object). */
type BufferedAnswer = {
  method: string;
  /** The upstream path (no query string). */
  path: string;
  status: number;
  contentType: string | null;
  body: ArrayBuffer | null;
  /** Only part of the body was kept: what it reports still counts, marked estimated. */
  truncated?: boolean;
  source: UsageSource;
  /** The model the request named, when known: an error is counted under it. */
  requestModel?: string | null;
  at?: number;
};

/**
 * The usage sample of an answer read in full (async proxy jobs, async
 * actions), by the same rules and extractor as the live tap (src/usage/tap.ts):
 * what the provider reported for endpoints that report usage, one request
 * (an error when its status is >= 400) for everything else.
 */
export function sampleOfAnswer(rules: UsageRules | undefined, a: BufferedAnswer): UsageSample {
  const base = { at: a.at ?? Date.now(), source: a.source, error: a.status >= 400, input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: false };
  if (a.status >= 400) return { ...base, model: a.requestModel || "unknown" };
  if (!rules || !a.body || a.body.byteLength === 0 || !reportsUsage(rules, a.method, a.path)) return { ...base, model: "unknown" };
  const sse = (a.contentType ?? "").startsWith("text/event-stream");
  const scan = sse ? createSseScanner(rules) : createJsonCollector(rules);
  scan.push(new Uint8Array(a.body));
  const u = scan.end();
  return { ...base, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated || a.truncated === true };
}
