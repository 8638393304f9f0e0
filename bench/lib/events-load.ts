// The outgoing-events part of `npm run bench -- --scale` (bench/scale.ts): inbound
// webhooks, signed as OpenAI signs them, on many connections at a fixed rate,
// each forwarded by terapi to the receiver (bench/lib/event-receiver.ts, its own
// process). One block = one rate held for some seconds, then the wait until every
// accepted event arrived; what it cost workerd in CPU is read from /proc over the
// block, so it can be compared between builds on a loaded machine (interleaved).
import { createHmac, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { ArrivalReport } from "./event-receiver.ts";
import { connectInspector, cpuProfile, type CpuProfile } from "./inspector.ts";
import { cpuMs, sleep } from "../../scripts/lib/procs.ts";

/** Standard Webhooks signature of an inbound webhook, as OpenAI would send it. */
function sign(secret: string, id: string, ts: number, body: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64")}`;
}

export type EventTarget = {
  origin: string;
  pck: string;
  /** Connections c0 … c(connections-1) carry `whsec` as their webhook secret. */
  connections: number;
  whsec: string;
  pids: () => number[];
  inspector?: { port: number; worker: string };
};

export type BlockResult = {
  sent: number;
  sendSeconds: number;
  inbound: Map<number, number>;
  maxInFlight: number;
  delivered: number;
  deliveredRate: number;
  lags: number[];
  lost: number;
  wrong: number;
  dupes: number;
  unanswered: number;
  other: number;
  /** workerd CPU (ms) from the first send until every accepted event arrived (or the wait ended), per delivered event. */
  cpuPerEvent: number;
  errors: string[];
  profile?: CpuProfile;
};

/**
 * How long after the last create the set-up's delayed work may still come: a connection object
 * sends its usage days to the index 30 s after its first syncs counted them (src/usage/ledger.ts
 * INDEX_DELAY_MS), then the queue batches them. A quiet spell before that is not the end of set-up.
 */
export const SETUP_TAIL_MS = 40_000;

/**
 * Waits until terapi's workerd is idle (under `maxPct` of one core over a second, twice in a row)
 * and, when `notBefore` (a `performance.now()` time) is given, not before it, so the work left
 * over from set-up (the first sync runs of the connections just created, and their usage reaching
 * the index 30 s later) does not land in the measured window. Resolves with the seconds waited.
 */
export async function settle(pids: () => number[], log: (m: string) => void, maxPct = 8, limitS = 180, notBefore = 0): Promise<number> {
  const start = performance.now();
  let calm = 0;
  let prev = cpuMs(pids());
  while (performance.now() - start < limitS * 1000) {
    await sleep(1_000);
    const now = cpuMs(pids());
    const pct = (now - prev) / 10;
    prev = now;
    calm = pct <= maxPct ? calm + 1 : 0;
    if (calm >= 2 && performance.now() >= notBefore) break;
  }
  const waited = (performance.now() - start) / 1000;
  log(`set-up work settled after ${waited.toFixed(0)} s`);
  return waited;
}

/**
 * `rate`/s inbound webhooks for `seconds` over the target's connections (round robin), sequence
 * numbers from `seqBase`; then waits up to `waitS` for every accepted one to arrive.
 */
export async function eventBlock(
  t: EventTarget,
  receiver: { report: () => Promise<ArrivalReport> },
  opts: { rate: number; seconds: number; seqBase: number; waitS?: number; profile?: boolean },
): Promise<BlockResult> {
  const total = Math.round(opts.rate * opts.seconds);
  const errors: string[] = [];
  const inbound = new Map<number, number>();
  const accepted = new Set<number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const ins = opts.profile && t.inspector ? await connectInspector(t.inspector.port, t.inspector.worker) : undefined;
  let got: ArrivalReport = { arrivals: {}, other: 0 };
  let sendEnd = 0;
  let wallStart = 0;
  let cpuStart = 0;
  let cpuEnd = 0;
  const run = async () => {
    const sends: Promise<void>[] = [];
    const evStart = performance.now();
    wallStart = Date.now();
    cpuStart = cpuMs(t.pids());
    for (let i = 0; i < total; i++) {
      const k = opts.seqBase + i;
      const due = evStart + (i / opts.rate) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const conn = `c${i % t.connections}`;
      const sentAt = Date.now();
      const body = JSON.stringify({
        id: `evt_bench_${k}`,
        object: "event",
        type: "bench.event",
        created_at: Math.floor(sentAt / 1000),
        data: { conn, seq: k, sent_at: sentAt },
      });
      const id = `wh_bench_${k}_${randomBytes(4).toString("hex")}`;
      const ts = Math.floor(sentAt / 1000);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      sends.push(
        fetch(`${t.origin}/webhook/${t.pck}/${conn}`, {
          method: "POST",
          headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": sign(t.whsec, id, ts, body) },
          body,
          signal: AbortSignal.timeout(60_000),
        })
          .then(async (r) => {
            await r.arrayBuffer();
            if (r.status === 200) accepted.add(k);
            inbound.set(r.status, (inbound.get(r.status) ?? 0) + 1);
          })
          .catch((err: unknown) => {
            inbound.set(-1, (inbound.get(-1) ?? 0) + 1);
            if (errors.length < 5)
              errors.push(`inbound webhook ${k}: ${err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}` : String(err)}`);
          })
          .finally(() => void inFlight--),
      );
    }
    sendEnd = (performance.now() - evStart) / 1000;
    await Promise.all(sends);
    // Wait until every accepted event arrived (or waitS more).
    const waitUntil = Date.now() + (opts.waitS ?? 60) * 1000;
    got = await receiver.report();
    while ([...accepted].some((k) => !got.arrivals[k]) && Date.now() < waitUntil) {
      await sleep(250);
      got = await receiver.report();
    }
    cpuEnd = cpuMs(t.pids());
  };
  let profile: CpuProfile | undefined;
  try {
    if (ins) profile = await cpuProfile(ins, run);
    else await run();
  } finally {
    ins?.close();
  }
  const mine = Object.entries(got.arrivals)
    .filter(([seq]) => Number(seq) >= opts.seqBase && Number(seq) < opts.seqBase + total)
    .map(([, l]) => l);
  const firsts = mine.map((l) => l.reduce((a, b) => (a.at <= b.at ? a : b)));
  const lastArrival = Math.max(...firsts.map((a) => a.at));
  return {
    sent: total,
    sendSeconds: sendEnd,
    inbound,
    maxInFlight,
    delivered: firsts.length,
    deliveredRate: firsts.length / ((lastArrival - wallStart) / 1000),
    lags: firsts.map((a) => a.at - a.sentAt),
    lost: [...accepted].filter((k) => !got.arrivals[k]).length,
    wrong: mine.flat().filter((a) => !a.ok).length,
    dupes: mine.reduce((n, l) => n + l.length - 1, 0),
    unanswered: firsts.filter((a) => !accepted.has(a.seq)).length,
    other: got.other,
    cpuPerEvent: (cpuEnd - cpuStart) / Math.max(1, firsts.length),
    errors,
    profile,
  };
}
