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

const FLUSH_AFTER_MS = 250;
const FLUSH_AT = 50;
/** A connection whose flushes keep failing must not grow the isolate's memory. */
const MAX_BUFFERED = 1_000;

/** Usage samples (src/usage) ride in the same batch: no round trip of their own. */
type Buffer = { providerConfigKey: string; connectionId: string; entries: LogEntry[]; usage: UsageSample[]; scheduled: boolean };

const buffers = new Map<string, Buffer>();

export type WaitUntil = (promise: Promise<unknown>) => void;

/** One stored log line from what a feature reports. */
export function toLogEntry(input: OperationInput): LogEntry {
  const at = input.started_at ?? Date.now() - input.duration_ms;
  // Time first so ids sort like the lines within one millisecond.
  return {
    id: `log_${at.toString(36).padStart(9, "0")}${randomHex(6)}`,
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

export function recordOperation(env: Env, waitUntil: WaitUntil, input: OperationInput): void {
  buffered(env, waitUntil, input.provider_config_key, input.connection_id, (buf) => {
    buf.entries.push(toLogEntry(input));
    if (buf.entries.length > MAX_BUFFERED) buf.entries.splice(0, buf.entries.length - MAX_BUFFERED);
    return buf.entries.length;
  });
}

/** One call's usage (src/usage/tap.ts), written with the connection's next batch of log lines. */
export function recordUsageSample(env: Env, waitUntil: WaitUntil, providerConfigKey: string, connectionId: string, sample: UsageSample): void {
  buffered(env, waitUntil, providerConfigKey, connectionId, (buf) => {
    buf.usage.push(sample);
    if (buf.usage.length > MAX_BUFFERED) buf.usage.splice(0, buf.usage.length - MAX_BUFFERED);
    return buf.usage.length;
  });
}

function buffered(env: Env, waitUntil: WaitUntil, providerConfigKey: string, connectionId: string, add: (buf: Buffer) => number): void {
  const key = connectionKey(providerConfigKey, connectionId);
  let buf = buffers.get(key);
  if (!buf) {
    buf = { providerConfigKey, connectionId, entries: [], usage: [], scheduled: false };
    buffers.set(key, buf);
  }
  const size = add(buf);

  try {
    if (size >= FLUSH_AT) waitUntil(flush(env, key));
    else if (!buf.scheduled) {
      buf.scheduled = true;
      waitUntil(new Promise<void>((resolve) => setTimeout(resolve, FLUSH_AFTER_MS)).then(() => flush(env, key)));
    }
  } catch (err) {
    // A context that cannot wait any more: write now rather than lose the lines.
    logUnhandled("operation log: waitUntil refused", err);
    buf.scheduled = false;
    void flush(env, key);
  }
}

/** Writes what is buffered for one connection (one RPC); failures are reported, never thrown. */
async function flush(env: Env, key: string): Promise<void> {
  const buf = buffers.get(key);
  if (!buf) return;
  buf.scheduled = false;
  const entries = buf.entries.splice(0);
  const usage = buf.usage.splice(0);
  buffers.delete(key);
  if (entries.length === 0 && usage.length === 0) return;
  let folded: string[];
  try {
    const who = { providerConfigKey: buf.providerConfigKey, connectionId: buf.connectionId };
    ({ folded } = await connectionObject(env, buf.providerConfigKey, buf.connectionId).appendLogs(entries, usage.length ? { ...who, samples: usage } : undefined));
  } catch (err) {
    logUnhandled("operation log: flush failed", err, { fields: { lines: entries.length, usage: usage.length } });
    return;
  }
  // Stored: now to the environment-wide index, batched with this isolate's other connections' lines.
  // Aggregated lines counted into an earlier line stay out of it (see createLogStore's append).
  const fresh = folded.length ? entries.filter((e) => !folded.includes(e.id)) : entries;
  if (fresh.length > 0) await feedIndex(env, fresh.map((log) => ({ log })));
}

/** Writes what is buffered for one connection now (the usage cap's exact check needs it written first). */
export async function flushConnectionLogs(env: Env, providerConfigKey: string, connectionId: string): Promise<void> {
  await flush(env, connectionKey(providerConfigKey, connectionId));
}

/** Writes every buffered line now (tests, and a Durable Object that is about to finish). */
export async function flushOperationLogs(env: Env): Promise<void> {
  await Promise.all([...buffers.keys()].map((key) => flush(env, key)));
}
