// (b) JSON chat completion at concurrency 32: throughput and latency under load.
import { describeFailures, summarize } from "../lib/stats.ts";
import type { Scenario } from "../lib/types.ts";
import { closeAgents, interleaved, sides } from "./common.ts";

const CONCURRENCY = 32;

export const throughputScenario: Scenario = {
  id: "b",
  title: `b. chat JSON, c=${CONCURRENCY}`,
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 6_000 : 14_000),
  async run(ctx) {
    const ss = sides(ctx.direct, ctx.terapi, CONCURRENCY);
    const roundMs = ctx.quick ? 1_000 : 2_500;
    await interleaved({
      sides: ss,
      spec: ctx.request(false),
      concurrency: CONCURRENCY,
      rounds: 2,
      perRound: { durationMs: roundMs },
      warmup: { durationMs: ctx.quick ? 500 : 1_000 },
    });
    closeAgents(ss);
    const [d, t] = ss.map((s) => summarize(s.samples.map((x) => x.totalMs)));
    const [dRps, tRps] = ss.map((s) => (s.samples.length * 1000) / s.elapsedMs);
    const errors = ss.map((s) => describeFailures(`${this.title} ${s.target.name}`, s.samples)).filter((e): e is string => !!e);
    const title = this.title;
    return {
      errors,
      rows: [
        { scenario: title, metric: "throughput", unit: "req/s", direct: dRps, terapi: tRps, compare: "ratio", target: { text: "≥ 70% of direct", pass: tRps >= 0.7 * dRps } },
        { scenario: title, metric: "latency p50", unit: "ms", direct: d.p50, terapi: t.p50, compare: "added" },
        { scenario: title, metric: "latency p99", unit: "ms", direct: d.p99, terapi: t.p99, compare: "added" },
      ],
      details: { concurrency: CONCURRENCY, seconds_per_side: ss.map((s) => s.elapsedMs / 1000), direct: { ...d, rps: dRps }, terapi: { ...t, rps: tRps } },
    };
  },
};
