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
 *   upstream) goes to the caller natively; a native tee branch of it is
 *   collected natively and read for usage once whole (`collected`);
 * - a longer JSON answer is teed and its counting branch read in the background;
 * - a stream goes to the caller natively through `passThrough` (src/usage/stream-read.ts),
 *   which keeps a copy on a tee branch and scans it at the end;
 * - everything else counts as one request (an error when its status is >= 400)
 *   without reading a byte.
 * The sums are recorded in the background, never awaited before the Response
 * goes back.
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

/**
 * The caller's Response and the call's usage, for the caller to record with
 * its log line as one record: `usage` now, or `later` (a small answer, once
 * collected; `cut` when upstream cut it mid-body). `usage` is null and there is
 * no `later` when it is recorded on its own (a stream, a long answer: once read
 * to its end) or not at all (off).
 */
type Tapped = { res: Response; usage: UsageSample | null; later?: Promise<Collected> };
type Collected = { sample: UsageSample; cut: boolean };

/** A JSON answer up to this size (declared) is collected whole on a native tee branch; a longer one is read chunk by chunk. */
const WHOLE_READ_LIMIT = 16 * 1024;

/**
 * The caller's Response; `logged` is called once, with the usage to record
 * with the call's log line: at once (known now; null when it is recorded on
 * its own or not at all), or once a small answer has been collected (`cut`:
 * upstream cut it mid-body, after its headers went back).
 */
export function tapAnswer(res: Response, call: UsageCall, logged: (usage: UsageSample | null, cut: boolean) => void): Response {
  const t = tap(res, call);
  if (t.later)
    track(
      call,
      t.later.then(({ sample, cut }) => logged(sample, cut)),
    );
  else logged(t.usage, false);
  return t.res;
}

/** For callers that log on their own (actions): the usage is recorded by itself. */
export function tapUsage(res: Response, call: UsageCall): Response {
  const t = tap(res, call);
  if (t.later)
    track(
      call,
      t.later.then(({ sample }) => recordPending(call, sample)),
    );
  else if (t.usage) recordPending(call, t.usage);
  return t.res;
}

/** Background reading or recording: kept to the invocation's end, and settled by tests (`settleUsageReaders`). */
function track(call: UsageCall, work: Promise<void>): void {
  pending.add(work);
  void work.finally(() => pending.delete(work));
  call.waitUntil(work);
}

function tap(res: Response, call: UsageCall): Tapped {
  const copy = call.copy ?? rewrap;
  const ok = res.status < 400;
  if (!usageEnabled(call.env)) return { res: ok ? copy(res, res.body) : res, usage: null };
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
    return { res: ok ? copy(res, res.body) : res, usage: sample };
  }
  const sse = (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (!sse) {
    const length = declaredLength(res.headers);
    if (length !== null && length <= WHOLE_READ_LIMIT) return collected(res, res.body, call, rules, at, copy);
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
  return { res: copy(res, body), usage: null };
}

function recordPending(call: UsageCall, usage: UsageSample): void {
  recordUsageSample(call.env, call.waitUntil, call.providerConfigKey, call.connectionId, usage);
}

/**
 * A small JSON answer (it has arrived upstream: its length is declared and
 * small) goes to the caller as it came, on workerd's native path, exactly as
 * with usage off; a native tee keeps a second copy, collected natively
 * (`Response.arrayBuffer()`, no JS per chunk) and read for usage once it is
 * whole (`readJsonAnswer`: a few KiB at most), after the caller's Response
 * has gone back. An answer cut upstream mid-body reaches the caller cut, as
 * it would without terapi in between (issue 16: the response reaches the
 * caller exactly as today), and counts as one failed request, nothing read,
 * marked estimated. The sample goes to the caller (`later`), who records it
 * with the call's log line.
 */
function collected(
  res: Response,
  body: ReadableStream<Uint8Array>,
  call: UsageCall,
  rules: UsageRules,
  at: number,
  copy: NonNullable<UsageCall["copy"]>,
): Tapped {
  const [theirs, mine] = body.tee();
  const later = new Response(mine).arrayBuffer().then(
    (bytes): Collected => {
      const u = readJsonAnswer(new Uint8Array(bytes), rules);
      return { sample: { at, source: call.source, error: false, model: u.model ?? "unknown", ...u.tokens, estimated: u.estimated }, cut: false };
    },
    (): Collected => ({
      sample: { at, source: call.source, error: true, model: "unknown", input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: true },
      cut: true,
    }),
  );
  return {
    res: copy(res, theirs),
    usage: null,
    later: later.then((c) => {
      noteUsage(call.providerConfigKey, call.connectionId, c.sample);
      return c;
    }),
  };
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
