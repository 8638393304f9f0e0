import type { Ctx } from "./http.ts";
import { writeHead } from "./http.ts";
import { sleep } from "./util.ts";

export interface SseEvent {
  event?: string;
  data: string;
}

/** Delay between chunks, from the request header x-sim-chunk-delay-ms. */
export function chunkDelay(ctx: Ctx): number {
  const h = ctx.req.headers["x-sim-chunk-delay-ms"];
  const n = typeof h === "string" ? Number(h) : 0;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Writes events one by one (each write is flushed), honouring chunk delay and mid-stream drops. */
export async function streamSse(ctx: Ctx, events: SseEvent[]): Promise<void> {
  const delay = chunkDelay(ctx);
  const { res } = ctx;
  res.socket?.setNoDelay(true);
  writeHead(ctx, 200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  const dropAt = ctx.dropMidStream ? Math.max(1, Math.floor(events.length / 2)) : -1;
  const record = { events: events.length, written: 0, complete: false };
  if (ctx.log) ctx.log.stream = record;
  for (let i = 0; i < events.length; i++) {
    if (i === dropAt) {
      // Let what was written reach the client, then cut the connection.
      await new Promise<void>((r) => res.write(": \n\n", () => r()));
      res.destroy();
      return;
    }
    if (delay && i > 0) await sleep(delay);
    if (res.destroyed) return;
    const e = events[i];
    res.write(e.event ? `event: ${e.event}\ndata: ${e.data}\n\n` : `data: ${e.data}\n\n`);
    record.written++;
  }
  res.end();
  record.complete = true;
}
