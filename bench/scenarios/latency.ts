// (a) JSON chat completion at concurrency 1: latency and the latency terapi adds.
import { describeFailures, summarize } from "../lib/stats.ts";
import type { Scenario } from "../lib/types.ts";
import { closeAgents, interleaved, sides } from "./common.ts";

export const latencyScenario: Scenario = {
  id: "a",
  title: "a. chat JSON, c=1",
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 5_000 : 15_000),
  async run(ctx) {
    const ss = sides(ctx.direct, ctx.terapi, 1);
    const perRound = ctx.quick ? 100 : 300;
    const rounds = ctx.quick ? 4 : 10;
    await interleaved({ sides: ss, spec: ctx.request(false), concurrency: 1, rounds, perRound: { count: perRound }, warmup: { count: ctx.quick ? 50 : 200 } });
    closeAgents(ss);
    const [d, t] = ss.map((s) => summarize(s.samples.map((x) => x.totalMs)));
    const errors = ss.map((s) => describeFailures(`${this.title} ${s.target.name}`, s.samples)).filter((e): e is string => !!e);
    const title = this.title;
    return {
      errors,
      rows: [
        { scenario: title, metric: "latency p50", unit: "ms", direct: d.p50, terapi: t.p50, compare: "added", target: { text: "added ≤ 1 ms", pass: t.p50 - d.p50 <= 1 } },
        { scenario: title, metric: "latency p99", unit: "ms", direct: d.p99, terapi: t.p99, compare: "added", target: { text: "added ≤ 3 ms", pass: t.p99 - d.p99 <= 3 } },
        { scenario: title, metric: "latency mean", unit: "ms", direct: d.mean, terapi: t.mean, compare: "added" },
      ],
      details: { requests_per_side: d.n, direct: d, terapi: t },
    };
  },
};
