// (a) JSON chat completion at concurrency 1: latency and the latency terapi adds.
// On table 1 it runs once per fresh process pair (bench/README.md "Paired processes"); the
// targets are judged on the median of the per-pair differences.
import type { Scenario } from "../lib/types.ts";
import { blocks, differenceTarget, failures, interleaved, latencyRow, perPair, pooled, runOnce, sides, summaries, usageBudgetRow } from "./common.ts";

const total = (x: { totalMs: number }) => x.totalMs;

export const latencyScenario: Scenario = {
  id: "a",
  title: "a. chat JSON, c=1",
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 8_000 : 20_000),
  run(ctx) {
    return runOnce(ctx, latencyScenario.paired!);
  },
  paired: {
    async measure(ctx) {
      const ss = sides(ctx, 1);
      // One set of processes (wrangler dev, no bare Worker): the whole sample on it. Several pairs: a
      // quarter of it on each, so that the pairs, not the requests, carry the run's length.
      const single = ctx.pairs <= 1;
      await interleaved({
        sides: ss,
        spec: ctx.request(false),
        concurrency: 1,
        // Paired: the sides alternate request by request (what loads the machine at any moment weighs on
        // both alike); one set of processes keeps the old blocks of 300.
        ...blocks(ctx.quick || !single ? 400 : 3_000, ctx.block ?? (single ? 300 : 1)),
        balanced: true,
        // JIT in the client, the simulator and workerd keeps improving for a while.
        warmup: { durationMs: ctx.quick ? 700 : single ? 2_000 : 1_000 },
      });
      return ss;
    },
    report(pairs) {
      const title = latencyScenario.title;
      const ss = pooled(pairs);
      const by = summaries(ss, total);
      const { direct: d, terapi: t, floor: f, off: o } = by;
      const p50 = (s: { p50: number }) => s.p50;
      const p99 = (s: { p99: number }) => s.p99;
      return {
        errors: failures(title, ss),
        rows: [
          {
            ...latencyRow(title, "latency p50", by, p50),
            ...(f
              ? differenceTarget("bare", 0.1, perPair(pairs, total, p50, "terapi", "floor"), t.p50, f.p50)
              : { target: { text: "added ≤ 1 ms", pass: t.p50 - d.p50 <= 1 } }),
          },
          {
            ...latencyRow(title, "latency p99", by, p99),
            ...(f
              ? differenceTarget("bare", 0.5, perPair(pairs, total, p99, "terapi", "floor"), t.p99, f.p99)
              : { target: { text: "added ≤ 3 ms", pass: t.p99 - d.p99 <= 3 } }),
          },
          latencyRow(title, "latency mean", by, (s) => s.mean),
          ...(o ? [usageBudgetRow(title, "latency p50", t.p50, o.p50, perPair(pairs, total, p50, "terapi", "off"))] : []),
        ],
        details: { pairs: pairs.length, requests_per_side: d.n, direct: d, terapi: t, bare_workerd_proxy: f ?? null, usage_off: o ?? null },
      };
    },
  },
};
