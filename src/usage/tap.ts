import { recordUsageSample, type WaitUntil } from "../logs/record";
import { requestModelOf } from "../proxy/answer-model";
import type { ProviderDefinition } from "../providers/types";
import { createJsonCollector, createSseScanner, type ReadUsage } from "./extract";
import { noteUsage } from "./gate";
import type { UsageRules, UsageSample, UsageSource } from "./types";

/**
 * Counts one upstream response toward its connection's usage, without
 * touching what the caller gets: when the endpoint reports usage, a JSON body
 * is teed and a stream passes through a look-only transform (see `teed`,
 * `passThrough`); the sums are recorded in the background (`waitUntil`),
 * never awaited before the Response goes back. Everything else counts as one
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

export function reportsUsage(rules: UsageRules, method: string, path: string): boolean {
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
    // An error is counted under the model its request named (when the proxy read it), else `unknown`.
    record(call, { ...base, model: (base.error && requestModelOf(res)) || "unknown", input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: false });
    return res;
  }
  const sse = (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const { body, reading } = sse ? passThrough(res.body, createSseScanner(rules)) : teed(res.body, createJsonCollector(rules), declaredLength(res.headers));
  const done = ({ u, cut }: { u: ReadUsage; cut: boolean }) =>
    // Cut mid-way (the caller left, or upstream dropped): it still counts, with what was seen and marked estimated.
    record(call, { ...base, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated || cut });
  const recorded = reading.then(done);
  pending.add(recorded);
  void recorded.finally(() => pending.delete(recorded));
  call.waitUntil(recorded);
  return new Response(body, res);
}

type Scanner = { push(chunk: Uint8Array): void; end(): ReadUsage };
type Reading = { body: ReadableStream<Uint8Array>; reading: Promise<{ u: ReadUsage; cut: boolean }> };

/** A JSON answer up to this size (declared) is read in one native call; a longer one chunk by chunk (head and tail kept). */
const WHOLE_READ_LIMIT = 16 * 1024;

function declaredLength(headers: Headers): number | null {
  const raw = headers.get("content-length");
  const n = raw === null ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * A JSON answer: a tee keeps the caller's copy on workerd's native path. A
 * small one's counting branch is read by the runtime in one go (no JS per
 * chunk, nothing on the caller's way); a longer one is read after the current
 * task, chunk by chunk. (The answer is complete upstream already: nothing to cancel.)
 */
function teed(source: ReadableStream<Uint8Array>, scan: Scanner, length: number | null): Reading {
  const [theirs, mine] = source.tee();
  if (length !== null && length <= WHOLE_READ_LIMIT) {
    const reading = new Response(mine).arrayBuffer().then(
      (buf) => {
        scan.push(new Uint8Array(buf));
        return { u: scan.end(), cut: false };
      },
      () => ({ u: scan.end(), cut: true }),
    );
    return { body: theirs, reading };
  }
  const reading = new Promise((resolve) => setTimeout(resolve, 0)).then(async () => {
    const reader = mine.getReader();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) scan.push(r.value);
      return { u: scan.end(), cut: false };
    } catch {
      return { u: scan.end(), cut: true };
    }
  });
  return { body: theirs, reading };
}

/**
 * A stream: a pass-through that hands each chunk on, then scans it (a few
 * microseconds), so a caller that leaves still cancels upstream (with a tee
 * the counting branch would read an abandoned stream to its end, and the
 * provider would go on generating).
 */
function passThrough(source: ReadableStream<Uint8Array>, scan: Scanner): Reading {
  const seen = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      scan.push(chunk);
    },
  });
  const reading = source.pipeTo(seen.writable).then(
    () => ({ u: scan.end(), cut: false }),
    () => ({ u: scan.end(), cut: true }),
  );
  return { body: seen.readable, reading };
}

function record(call: UsageCall, sample: UsageSample): void {
  noteUsage(call.providerConfigKey, call.connectionId, sample);
  recordUsageSample(call.env, call.waitUntil, call.providerConfigKey, call.connectionId, sample);
}

/** Waits for this isolate's readers (tests: then flush the log buffers to read exact totals). */
export async function settleUsageReaders(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}
