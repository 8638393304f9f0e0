// (c) Streamed chat completion (SSE): time to first byte, and what terapi adds to it.
// The simulator spaces the chunks (x-sim-chunk-delay-ms, forwarded by the proxy
// like any header) so that a proxy that buffered would show it: its first byte
// would come at the end of the stream. On table 1 it runs once per fresh process
// pair, the targets judged on the median of the per-pair differences.
import type { Scenario } from "../lib/types.ts";
import { blocks, differenceTarget, failures, interleaved, latencyRow, perPair, pooled, runOnce, sides, summaries, usageBudgetRow } from "./common.ts";

const CHUNK_DELAY_MS = 2;
const firstByte = (x: { firstByteMs: number }) => x.firstByteMs;
const p50 = (s: { p50: number }) => s.p50;

export const sseScenario: Scenario = {
  id: "c",
  title: "c. chat SSE, c=1",
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 8_000 : 20_000),
  run(ctx) {
    return runOnce(ctx, sseScenario.paired!);
  },
  paired: {
    async measure(ctx) {
      const ss = sides(ctx, 1);
      const single = ctx.pairs <= 1;
      await interleaved({
        sides: ss,
        spec: { ...ctx.request(true), headers: { "x-sim-chunk-delay-ms": String(CHUNK_DELAY_MS) } },
        concurrency: 1,
        // Paired: stream by stream, alternating sides; one set of processes keeps the old blocks.
        ...blocks(ctx.quick ? (single ? 80 : 40) : single ? 300 : 120, ctx.block ?? (single ? (ctx.quick ? 40 : 75) : 1)),
        balanced: true,
        warmup: { count: single ? 20 : 10 },
        keepTail: true,
      });
      return ss;
    },
    report(pairs) {
      const title = sseScenario.title;
      const ss = pooled(pairs);
      const errors = failures(title, ss);
      for (const s of ss) {
        const unfinished = s.samples.filter((x) => x.status === 200 && !x.snippet?.includes("[DONE]")).length;
        if (unfinished) errors.push(`${title} ${s.target.name}: ${unfinished}/${s.samples.length} streams did not end with data: [DONE]`);
      }
      const ttfb = summaries(ss, firstByte);
      const head = summaries(ss, (x) => x.headersMs);
      const all = summaries(ss, (x) => x.totalMs);
      const [dT, tT] = [ttfb.direct, ttfb.terapi];
      return {
        errors,
        rows: [
          {
            ...latencyRow(title, "TTFB p50 (first body byte)", ttfb, p50),
            ...(ttfb.floor
              ? differenceTarget("bare", 0.15, perPair(pairs, firstByte, p50, "terapi", "floor"), tT.p50, ttfb.floor.p50)
              : { target: { text: "added ≤ 2 ms", pass: tT.p50 - dT.p50 <= 2 } }),
          },
          latencyRow(title, "TTFB p99", ttfb, (s) => s.p99),
          latencyRow(title, "headers p50", head, p50),
          {
            ...latencyRow(title, `whole stream p50 (chunks ${CHUNK_DELAY_MS} ms apart)`, all, p50),
            // A buffering proxy sends its first byte only when the upstream stream has ended.
            target: { text: "first byte before half the stream", pass: tT.p50 < dT.p50 + (all.direct.p50 - dT.p50) / 2 },
          },
          ...(ttfb.off ? [usageBudgetRow(title, "TTFB p50", tT.p50, ttfb.off.p50, perPair(pairs, firstByte, p50, "terapi", "off"))] : []),
        ],
        details: { pairs: pairs.length, streams_per_side: dT.n, chunk_delay_ms: CHUNK_DELAY_MS, ttfb, headers: head, total: all },
      };
    },
  },
};
