import { recordUsageSample, type WaitUntil } from "../logs/record";
import { requestModelOf } from "../proxy/answer-model";
import type { ProviderDefinition } from "../providers/types";
import { createJsonCollector, createSseScanner, readJsonAnswer } from "./extract";
import { passThrough, type Scanner, type Reading } from "./stream-read";
import { noteUsage } from "./gate";
import type { UsageRules, UsageSample, UsageSource } from "./types";

/**
 * Counts one upstream response toward its connection's usage, without
 * changing what the caller gets and without a stream of its own where it can
 * do without:
 * - a small JSON answer (declared length <= WHOLE_READ_LIMIT, already arrived
 *   upstream) is read whole in one native call, its usage read at once, and
 *   the caller answered from the same bytes (`readWhole`);
 * - a longer JSON answer is teed and its counting branch read in the background;
 * - a stream goes to the caller natively through `passThrough` (src/usage/stream-read.ts),
 *   which keeps a copy on a tee branch and scans it at the end;
 * - everything else counts as one request (an error when its status is >= 400)
 *   without reading a byte.
 * A small answer's sums are known before it is answered (it has arrived:
 * reading it is one native call); the others' are recorded in the background,
 * never awaited before the Response goes back.
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
  /**
   * Makes the caller's Response of a success answer with the body it is to
   * carry (the proxy's answers come as the provider sent them: see
   * `ForwardRequest.keepAnswer`); by default the answer is the caller's already.
   */
  copy?: (res: Response, body: BodyInit | null) => Response;
};

const rewrap = (res: Response, body: BodyInit | null): Response => (body === res.body ? res : new Response(body, res));

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

/** A JSON answer up to this size (declared) is read whole before it is answered; a longer one is teed and read chunk by chunk. */
const WHOLE_READ_LIMIT = 16 * 1024;

/** Called once, before the caller's Response is handed back: the usage to record with the call's log line. */
type Logged = (usage: UsageSample | null, cut: boolean) => void;

/** For callers that log on their own (actions): the usage is recorded by itself. */
export function tapUsage(res: Response, call: UsageCall): Response | Promise<Response> {
  return tapAnswer(res, call, (usage) => {
    if (usage) recordUsageSample(call.env, call.waitUntil, call.providerConfigKey, call.connectionId, usage);
  });
}

/** Background reading or recording: kept to the invocation's end, and settled by tests (`settleUsageReaders`). */
function track(call: UsageCall, work: Promise<void>): void {
  pending.add(work);
  void work.finally(() => pending.delete(work));
  call.waitUntil(work);
}

/**
 * The caller's Response (a small answer's once it has been read whole);
 * `logged` is called once, before it is handed back, with the usage to
 * record with the call's log line: null when it is recorded on its own (a
 * stream, a long answer: once read to its end) or not at all (off); `cut`:
 * upstream cut a small answer mid-body.
 */
export function tapAnswer(res: Response, call: UsageCall, logged: Logged): Response | Promise<Response> {
  const copy = call.copy ?? rewrap;
  const ok = res.status < 400;
  if (!usageEnabled(call.env)) {
    logged(null, false);
    return ok ? copy(res, res.body) : res;
  }
  const rules = call.provider.usage;
  const at = Date.now();
  if (!rules || !ok || !res.body || !reportsUsage(rules, call.method, call.path)) {
    // An error is counted under the model its request named (when the proxy read it), else `unknown`.
    const sample: UsageSample = {
      at,
      source: call.source,
      error: !ok,
      model: (!ok && requestModelOf(res)) || "unknown",
      input: 0,
      cachedInput: 0,
      output: 0,
      reasoning: 0,
      estimated: false,
    };
    noteUsage(call.providerConfigKey, call.connectionId, sample);
    logged(sample, false);
    return ok ? copy(res, res.body) : res;
  }
  const sse = (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (!sse) {
    const length = declaredLength(res.headers);
    if (length !== null && length <= WHOLE_READ_LIMIT) return readWhole(res, call, rules, at, copy, logged);
  }
  const { body, reading } = sse ? passThrough(res.body, createSseScanner(rules)) : teed(res.body, createJsonCollector(rules));
  track(
    call,
    reading.then(({ u, cut }) =>
      // Cut mid-way (the caller left, or upstream dropped) before the provider's usage: it still counts, with what was seen,
      // marked estimated. Cut after it (e.g. a client that stops reading at `[DONE]`): the provider's own figures, exact.
      record(call, { at, source: call.source, error: false, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated || (cut && !u.found) }),
    ),
  );
  logged(null, false);
  return copy(res, body);
}

/**
 * A small JSON answer has arrived upstream (its length is declared and
 * small): it is read whole in one native call, its usage read from the
 * bytes at once, and the caller answered from the same bytes. Nothing of
 * the call is left to run after the response: no tee, no second body, no
 * promise kept to the invocation's end (measured: bench/README.md, "c=32
 * (h-c32)"). An answer cut upstream mid-body reaches the caller as it would
 * through a pass-through: its status and headers, then a body that breaks
 * off (`brokenBody`); it counts as one failed request, nothing read, marked
 * estimated, and its log line is a failure.
 */
async function readWhole(
  res: Response,
  call: UsageCall,
  rules: UsageRules,
  at: number,
  copy: NonNullable<UsageCall["copy"]>,
  logged: Logged,
): Promise<Response> {
  let bytes: ArrayBuffer;
  try {
    bytes = await res.arrayBuffer();
  } catch {
    const sample: UsageSample = { at, source: call.source, error: true, model: "unknown", input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: true };
    noteUsage(call.providerConfigKey, call.connectionId, sample);
    logged(sample, true);
    return copy(res, brokenBody(declaredLength(res.headers) ?? 0));
  }
  const u = readJsonAnswer(new Uint8Array(bytes), rules);
  const sample: UsageSample = { at, source: call.source, error: false, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated };
  noteUsage(call.providerConfigKey, call.connectionId, sample);
  logged(sample, false);
  return copy(res, bytes);
}

/** A body of the declared length that breaks off before its end (what a caller of a pass-through gets when upstream cuts). */
function brokenBody(length: number): ReadableStream {
  const { readable, writable } = new FixedLengthStream(Math.max(1, length));
  void writable.abort(new Error("upstream cut the answer")).catch(() => {});
  return readable;
}

function declaredLength(headers: Headers): number | null {
  const raw = headers.get("content-length");
  const n = raw === null ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * A long (or unknown-length) JSON answer: a tee keeps the caller's copy on
 * workerd's native path; the counting branch is read after the current task,
 * chunk by chunk. (The answer is complete upstream already: nothing to cancel.)
 */
function teed(source: ReadableStream<Uint8Array>, scan: Scanner): Reading {
  const [theirs, mine] = source.tee();
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

function record(call: UsageCall, sample: UsageSample): void {
  noteUsage(call.providerConfigKey, call.connectionId, sample);
  recordUsageSample(call.env, call.waitUntil, call.providerConfigKey, call.connectionId, sample);
}

/** Waits for this isolate's readers (tests: then flush the log buffers to read exact totals). */
export async function settleUsageReaders(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}
