// (b′) Scenario b with an upstream that takes as long as a real one: the same
// c=32 JSON chat completion, the simulator answering after UPSTREAM_MS
// (`x-sim-latency-ms`, forwarded by the proxy). Against a 0.1 ms simulator,
// (b) measures the workerd hop; here the question is whether terapi is ever
// the bottleneck when the provider takes real time. Informational: the
// issue's ≥ 70% target is judged on (b).
import type { Scenario } from "../lib/types.ts";
import { failures, interleaved, rate, sides, summaries } from "./common.ts";

const CONCURRENCY = 32;
/** Far below a real chat completion (hundreds of ms), so it flatters nobody. */
const UPSTREAM_MS = 20;

export const latentThroughputScenario: Scenario = {
  id: "b2",
  title: `b′. chat JSON, c=${CONCURRENCY}, upstream ${UPSTREAM_MS} ms`,
  modes: ["miniflare"],
  budgetMs: (quick) => (quick ? 6_000 : 12_000),
  async run(ctx) {
    const title = this.title;
    const ss = sides(ctx, CONCURRENCY);
    await interleaved({
      sides: ss,
      spec: { ...ctx.request(false), headers: { "x-sim-latency-ms": String(UPSTREAM_MS) } },
      concurrency: CONCURRENCY,
      rounds: 2,
      perRound: { durationMs: ctx.quick ? 1_000 : 2_000 },
      warmup: { durationMs: 500 },
    });
    const { direct: d, terapi: t, floor: f } = summaries(ss, (x) => x.totalMs);
    const r = rate(ss);
    return {
      errors: failures(title, ss),
      rows: [
        { scenario: title, metric: "throughput", unit: "req/s", direct: r.direct, terapi: r.terapi, floor: r.floor, compare: "ratio", note: "informational" },
        { scenario: title, metric: "latency p50", unit: "ms", direct: d.p50, terapi: t.p50, floor: f?.p50, compare: "added" },
        { scenario: title, metric: "latency p99", unit: "ms", direct: d.p99, terapi: t.p99, floor: f?.p99, compare: "added" },
      ],
      details: {
        concurrency: CONCURRENCY,
        upstream_ms: UPSTREAM_MS,
        direct: { ...d, rps: r.direct },
        terapi: { ...t, rps: r.terapi },
        bare_workerd_proxy: f ? { ...f, rps: r.floor } : null,
      },
    };
  },
};
