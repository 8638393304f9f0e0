// (a) JSON chat completion at concurrency 1: latency and the latency terapi adds.
import type { Scenario } from "../lib/types.ts";
import { failures, interleaved, sides, summaries, usageBudgetRow } from "./common.ts";

export const latencyScenario: Scenario = {
  id: "a",
  title: "a. chat JSON, c=1",
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 8_000 : 20_000),
  async run(ctx) {
    const title = this.title;
    const ss = sides(ctx, 1);
    await interleaved({
      sides: ss,
      spec: ctx.request(false),
      concurrency: 1,
      rounds: ctx.quick ? 4 : 10,
      perRound: { count: ctx.quick ? 100 : 300 },
      // JIT in the client, the simulator and workerd keeps improving for a while.
      warmup: { durationMs: ctx.quick ? 700 : 2_000 },
    });
    const { direct: d, terapi: t, floor: f, off: o } = summaries(ss, (x) => x.totalMs);
    return {
      errors: failures(title, ss),
      rows: [
        {
          scenario: title,
          metric: "latency p50",
          unit: "ms",
          direct: d.p50,
          terapi: t.p50,
          floor: f?.p50,
          off: o?.p50,
          compare: "added",
          target: f ? { text: "≤ bare + 0.10 ms", pass: t.p50 - f.p50 <= 0.1 } : { text: "added ≤ 1 ms", pass: t.p50 - d.p50 <= 1 },
        },
        {
          scenario: title,
          metric: "latency p99",
          unit: "ms",
          direct: d.p99,
          terapi: t.p99,
          floor: f?.p99,
          off: o?.p99,
          compare: "added",
          target: f ? { text: "≤ bare + 0.5 ms", pass: t.p99 - f.p99 <= 0.5 } : { text: "added ≤ 3 ms", pass: t.p99 - d.p99 <= 3 },
        },
        { scenario: title, metric: "latency mean", unit: "ms", direct: d.mean, terapi: t.mean, floor: f?.mean, off: o?.mean, compare: "added" },
        ...(o ? [usageBudgetRow(title, "latency p50", t.p50, o.p50)] : []),
      ],
      details: { requests_per_side: d.n, direct: d, terapi: t, bare_workerd_proxy: f ?? null, usage_off: o ?? null },
    };
  },
};
