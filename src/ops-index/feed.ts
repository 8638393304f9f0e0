import { logUnhandled } from "../error-log";
import type { DeliveryIndexRow, IndexItem, IndexMessage, UsageIndexItem } from "./messages";
import type { LogEntry } from "../logs/store";

/**
 * The way into the environment-wide index: the Worker's log flush
 * (src/logs/record.ts) and connection objects hand it the log lines and
 * delivery states just stored, and it sends them to INDEX_QUEUE in batches
 * across connections (one message per FLUSH_AT items or FLUSH_AFTER_MS,
 * whichever comes first): a queue message carries many lines, not one. Never awaited by the caller: the connection's own
 * SQLite is the source of truth, the index a copy at most a few seconds old.
 */

export const FLUSH_AFTER_MS = 500;
/** Items per queue message: ~400 bytes a line keeps a message far under the 128 KB limit. */
const FLUSH_AT = 100;
/** Messages per `sendBatch` (Cloudflare allows 100 and 256 KB). */
const SEND_BATCH = 20;
/** A queue that keeps refusing must not grow the isolate's memory. */
const MAX_BUFFERED = 10_000;

type IndexSink = (messages: IndexMessage[]) => Promise<void>;

let buffer: IndexItem[] = [];
/** When the oldest buffered item came in. */
let oldest = 0;
/** When the flush some caller scheduled is due (0: none). */
let timerDue = 0;
/** A scheduled flush this late is taken for dead (its request ended and took the timer with it). */
const TIMER_GRACE_MS = 1_000;
/** Where flushes go instead of INDEX_QUEUE (tests that drive the index step by step); null: the queue. */
let sinkOverride: IndexSink | null = null;

const queueSink = (env: Env): IndexSink =>
  sinkOverride ??
  (async (messages) => {
    for (let i = 0; i < messages.length; i += SEND_BATCH)
      await env.INDEX_QUEUE.sendBatch(messages.slice(i, i + SEND_BATCH).map((body) => ({ body, contentType: "json" as const })));
  });

function toMessages(items: IndexItem[]): IndexMessage[] {
  const out: IndexMessage[] = [];
  for (let i = 0; i < items.length; i += FLUSH_AT) {
    const logs: LogEntry[] = [];
    const deliveries: DeliveryIndexRow[] = [];
    for (const item of items.slice(i, i + FLUSH_AT)) {
      if ("log" in item) logs.push(item.log);
      else deliveries.push(item.delivery);
    }
    out.push({ logs, deliveries });
  }
  return out;
}

/**
 * Adds items. Returns a promise only when this call started or scheduled the
 * flush that will carry them: the caller keeps its request alive with it
 * (`waitUntil`, or awaits it). No promise is ever shared between requests —
 * workerd cancels a request's timers and continuations when it ends, so a
 * flush belongs to the request that runs it; one that died is replaced.
 */
export function feedIndex(env: Env, items: IndexItem[], now = Date.now()): Promise<void> | null {
  if (items.length === 0) return null;
  if (buffer.length === 0) oldest = now;
  buffer.push(...items);
  if (buffer.length > MAX_BUFFERED) buffer.splice(0, buffer.length - MAX_BUFFERED);
  if (buffer.length >= FLUSH_AT || now - oldest >= FLUSH_AFTER_MS) return flushIndexFeed(queueSink(env));
  if (timerDue !== 0 && now <= timerDue + TIMER_GRACE_MS) return null;
  timerDue = now + FLUSH_AFTER_MS;
  return new Promise<void>((resolve) => setTimeout(resolve, FLUSH_AFTER_MS)).then(() => flushIndexFeed(queueSink(env)));
}

/** Sends what is buffered now (failures are reported and the items dropped from the feed: the connection's log still has them). */
export async function flushIndexFeed(sink: IndexSink): Promise<void> {
  timerDue = 0;
  const items = buffer;
  buffer = [];
  if (items.length === 0) return;
  try {
    await sink(toMessages(items));
  } catch (err) {
    logUnhandled("ops index: feed flush failed", err, { fields: { items: items.length } });
  }
}

/** Usage day rows per queue message (~250 bytes each: far under the 128 KB limit). */
const USAGE_ROWS_PER_MESSAGE = 100;

/**
 * A connection's changed usage days, sent to INDEX_QUEUE now (awaited, and a
 * failure thrown: its ledger marks the days indexed only once they are in the
 * queue, and sends them again on its next alarm otherwise). The consumer writes
 * every connection of a queue batch together (src/ops-index/write.ts), instead
 * of each connection's object writing D1 itself: one D1 round trip of a few
 * statements per queue batch, not per connection.
 */
export async function sendUsageIndex(env: Env, item: UsageIndexItem): Promise<void> {
  const messages: IndexMessage[] = [];
  for (let i = 0; i < item.rows.length; i += USAGE_ROWS_PER_MESSAGE)
    messages.push({ logs: [], deliveries: [], usage: [{ ...item, rows: item.rows.slice(i, i + USAGE_ROWS_PER_MESSAGE) }] });
  if (messages.length) await queueSink(env)(messages);
}

/** Tests: send the feed's flushes to `sink` (null: back to INDEX_QUEUE). */
export function routeIndexFeed(sink: IndexSink | null): void {
  sinkOverride = sink;
}
