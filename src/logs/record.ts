import { logUnhandled } from "../error-log";
import { randomHex } from "../crypto/random";
import { connectionObject } from "../bindings/stubs";
import { feedIndex } from "../ops-index/feed";
import type { UsageSample } from "../usage/types";
import type { LogEntry } from "./store";
import type { OperationInput } from "./types";
import { connectionKey } from "../lib/connection-key";

/**
 * The operation log's one entry point for every feature (proxy, syncs,
 * actions, inbound webhooks, deliveries):
 *
 *   recordOperation(env, (p) => ctx.waitUntil(p), { provider_config_key, connection_id,
 *     type: "sync", status: "success", duration_ms, detail: "batches: +3 ~1 -0" });
 *
 * It never awaits anything: lines are buffered per isolate and per connection
 * and written in the background, one RPC to the connection's Durable Object
 * per batch (every FLUSH_AFTER_MS or FLUSH_AT lines, whichever comes first),
 * then to the environment-wide index (src/ops-index/feed.ts).
 * The flush itself runs under `waitUntil`, so nothing is lost when the isolate
 * goes idle after the response. Never pass bodies, keys or query strings.
 */

/**
 * How long a connection's first buffered line waits for company. A batch has
 * a cost whatever its size (the `appendLogs` RPC and the object's
 * transaction, the feed's hand-off), paid by every call or two of a
 * connection called less often than the window: at 250 ms a stream at c=1
 * carried ≈ 1 ms of log CPU, 1 s saves ≈ 0.15 ms of it (bench/README.md, "A
 * stream's CPU (h-sse2)"), and a quarter of the object requests. A busy
 * connection is written by size (FLUSH_AT) and never waits this long. The
 * index still trails by "a few seconds" (README.md).
 */
export const FLUSH_AFTER_MS = 1_000;
/**
 * A batch this long is written at once. Large enough that a busy connection
 * is written a few times a second (each write is an RPC, a transaction and
 * the index feed's share), not once per few dozen calls.
 */
const FLUSH_AT = 200;
/** A connection whose flushes keep failing must not grow the isolate's memory. */
const MAX_BUFFERED = 1_000;

/**
 * Lines are kept as reported (the stored line, its id included, is made when
 * the batch is written); usage samples ride in the same batch: no round trip
 * of their own. Only samples: never an answer's bytes (a small answer's usage
 * is read before it is answered, src/usage/tap.ts).
 */
type Buffer = { providerConfigKey: string; connectionId: string; lines: OperationInput[]; usage: UsageSample[]; scheduled: boolean; full: boolean };

const buffers = new Map<string, Buffer>();

export type WaitUntil = (promise: Promise<unknown>) => void;

/** One stored log line from what a feature reports (`suffix`: the id's random part, made here when not given). */
export function toLogEntry(input: OperationInput, suffix = randomHex(6)): LogEntry {
  const at = input.started_at ?? Date.now() - input.duration_ms;
  // Time first so ids sort like the lines within one millisecond.
  return {
    id: `log_${at.toString(36).padStart(9, "0")}${suffix}`,
    at,
    provider_config_key: input.provider_config_key,
    connection_id: input.connection_id,
    type: input.type,
    status: input.status,
    http_status: input.http_status ?? null,
    duration_ms: input.duration_ms,
    retries: input.retries ?? 0,
    wait_ms: input.wait_ms ?? 0,
    request_id: input.request_id ?? null,
    method: input.method ?? null,
    path: input.path ?? null,
    detail: input.detail ?? null,
    ...(input.aggregate ? { aggregate: true } : {}),
  };
}

/** A batch's stored lines, their ids' random parts drawn in one call. */
function toLogEntries(lines: OperationInput[]): LogEntry[] {
  const hex = randomHex(6 * lines.length);
  return lines.map((line, i) => toLogEntry(line, hex.slice(12 * i, 12 * i + 12)));
}

/** Its start, fixed now: the stored line is made later. */
const stamped = (input: OperationInput): OperationInput => (input.started_at === undefined ? { ...input, started_at: Date.now() - input.duration_ms } : input);

export function recordOperation(env: Env, waitUntil: WaitUntil, input: OperationInput): void {
  recordCall(env, waitUntil, input, null);
}

/** One call's log line and its usage (or null), as one buffered record. */
export function recordCall(env: Env, waitUntil: WaitUntil, input: OperationInput, usage: UsageSample | null): void {
  buffer(env, waitUntil, input.provider_config_key, input.connection_id, stamped(input), usage);
}

/** One call's usage (src/usage/tap.ts), written with the connection's next batch of log lines. */
export function recordUsageSample(env: Env, waitUntil: WaitUntil, providerConfigKey: string, connectionId: string, sample: UsageSample): void {
  buffer(env, waitUntil, providerConfigKey, connectionId, null, sample);
}

/** Adds a line and/or a sample to the connection's buffer (each list capped at MAX_BUFFERED, oldest dropped), and schedules its flush. */
function buffer(env: Env, waitUntil: WaitUntil, providerConfigKey: string, connectionId: string, line: OperationInput | null, usage: UsageSample | null): void {
  const buf = bufferOf(providerConfigKey, connectionId);
  if (line !== null) capped(buf.lines, line);
  if (usage !== null) capped(buf.usage, usage);
  schedule(env, waitUntil, buf, Math.max(buf.lines.length, buf.usage.length));
}

function capped<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_BUFFERED) list.splice(0, list.length - MAX_BUFFERED);
}

function bufferOf(providerConfigKey: string, connectionId: string): Buffer {
  const key = connectionKey(providerConfigKey, connectionId);
  let buf = buffers.get(key);
  if (!buf) {
    buf = { providerConfigKey, connectionId, lines: [], usage: [], scheduled: false, full: false };
    buffers.set(key, buf);
  }
  return buf;
}

const flushLater = (env: Env, buf: Buffer, ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)).then(() => flush(env, buf));

function schedule(env: Env, waitUntil: WaitUntil, buf: Buffer, size: number): void {
  try {
    // A full batch is written in a task of its own: the request whose line filled it is answered first.
    if (size >= FLUSH_AT) {
      if (!buf.full) {
        buf.full = true;
        waitUntil(flushLater(env, buf, 0));
      }
    } else if (!buf.scheduled) {
      buf.scheduled = true;
      waitUntil(flushLater(env, buf, FLUSH_AFTER_MS));
    }
  } catch (err) {
    // A context that cannot wait any more: write now rather than lose the lines.
    logUnhandled("operation log: waitUntil refused", err);
    buf.scheduled = false;
    buf.full = false;
    void flush(env, buf);
  }
}

/** Writes what is buffered for one connection (one RPC); failures are reported, never thrown. */
async function flush(env: Env, buf: Buffer | undefined): Promise<void> {
  if (!buf) return;
  const key = connectionKey(buf.providerConfigKey, buf.connectionId);
  // A buffer already taken by an earlier flush (its timer fired after a size flush): nothing of it is left.
  if (buffers.get(key) !== buf) return;
  buf.scheduled = false;
  buffers.delete(key);
  if (buf.lines.length === 0 && buf.usage.length === 0) return;
  const usage = buf.usage;
  let entries: LogEntry[];
  try {
    entries = toLogEntries(buf.lines);
  } catch (err) {
    console.error("operation log: batch not made", { lines: buf.lines.length, usage: buf.usage.length, error: err instanceof Error ? err.name : "unknown" });
    return;
  }
  let folded: string[];
  try {
    const who = { providerConfigKey: buf.providerConfigKey, connectionId: buf.connectionId };
    ({ folded } = await connectionObject(env, buf.providerConfigKey, buf.connectionId).appendLogs(
      entries,
      usage.length ? { ...who, samples: usage } : undefined,
    ));
  } catch (err) {
    logUnhandled("operation log: flush failed", err, { fields: { lines: entries.length, usage: usage.length } });
    return;
  }
  // Stored: now to the environment-wide index, batched with this isolate's other connections' lines.
  // Aggregated lines counted into an earlier line stay out of it (see createLogStore's append).
  const fresh = folded.length ? entries.filter((e) => !folded.includes(e.id)) : entries;
  if (fresh.length > 0)
    await feedIndex(
      env,
      fresh.map((log) => ({ log })),
    );
}

/** Writes what is buffered for one connection now (the usage cap's exact check needs it written first). */
export async function flushConnectionLogs(env: Env, providerConfigKey: string, connectionId: string): Promise<void> {
  await flush(env, buffers.get(connectionKey(providerConfigKey, connectionId)));
}

/** Writes every buffered line now (tests, and a Durable Object that is about to finish). */
export async function flushOperationLogs(env: Env): Promise<void> {
  await Promise.all([...buffers.values()].map((buf) => flush(env, buf)));
}
