import { recordUsageSample, type WaitUntil } from "../logs/record";
import type { ProviderDefinition } from "../providers/types";
import { createJsonCollector, createSseScanner } from "./extract";
import { noteUsage } from "./gate";
import type { UsageRules, UsageSample, UsageSource } from "./types";

/**
 * Counts one upstream response toward its connection's usage, without
 * touching what the caller gets: when the endpoint reports usage, the body
 * passes through a stream that looks at each chunk after handing it on, and
 * the sums are recorded in the background (`waitUntil`), never awaited before
 * the Response goes back. Everything else counts as one
 * request (an error when its status is >= 400) without reading a byte.
 */
export type UsageCall = {
  env: Env;
  waitUntil: WaitUntil;
  provider: ProviderDefinition;
  providerConfigKey: string;
  connectionId: string;
  method: string;
  /** The upstream path (no query string). */
  path: string;
  source: UsageSource;
};

/** `TERAPI_USAGE=off` turns counting off entirely (for the bench's with/without comparison). */
export const usageEnabled = (env: Env) => env.TERAPI_USAGE !== "off";

const endpointSets = new WeakMap<UsageRules, Set<string>>();

function reportsUsage(rules: UsageRules, method: string, path: string): boolean {
  let set = endpointSets.get(rules);
  if (!set) endpointSets.set(rules, (set = new Set(rules.endpoints.map((e) => `${e.method} ${e.path}`))));
  return set.has(`${method} ${path}`);
}

/** Readers still running in this isolate (tests settle them before reading totals). */
const pending = new Set<Promise<void>>();

export function tapUsage(res: Response, call: UsageCall): Response {
  if (!usageEnabled(call.env)) return res;
  const rules = call.provider.usage;
  const base = { at: Date.now(), source: call.source, error: res.status >= 400 };
  if (!rules || res.status >= 400 || !res.body || !reportsUsage(rules, call.method, call.path)) {
    record(call, { ...base, model: "unknown", input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: false });
    return res;
  }
  const sse = (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const scan = sse ? createSseScanner(rules) : createJsonCollector(rules);
  // A pass-through that only looks: each chunk goes on first, then is scanned
  // (a few microseconds); the sums are finished after the last byte went out.
  // The caller cancelling still reaches upstream (a tee would keep reading it).
  const seen = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      scan.push(chunk);
    },
  });
  const done = (cut: boolean) => {
    const u = scan.end();
    // Cut mid-way (the caller left, or upstream dropped): it still counts, with what was seen and marked estimated.
    record(call, { ...base, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated || cut });
  };
  const reading = res.body.pipeTo(seen.writable).then(
    () => done(false),
    () => done(true),
  );
  pending.add(reading);
  void reading.finally(() => pending.delete(reading));
  call.waitUntil(reading);
  return new Response(seen.readable, res);
}

function record(call: UsageCall, sample: UsageSample): void {
  noteUsage(call.providerConfigKey, call.connectionId, sample);
  recordUsageSample(call.env, call.waitUntil, call.providerConfigKey, call.connectionId, sample);
}

/** Waits for this isolate's readers (tests: then flush the log buffers to read exact totals). */
export async function settleUsageReaders(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}
