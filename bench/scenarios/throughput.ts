// (b) JSON chat completion at concurrency 32: throughput and latency under load.
import type { Role, Scenario, Side } from "../lib/types.ts";
import { failures, interleaved, rate, sides, summaries } from "./common.ts";

const CONCURRENCY = 32;

/** Each side's workerd CPU time per answered request over its blocks (ms), where it was measured. */
function cpuPerRequest(ss: Side[]): Partial<Record<Role, number>> {
  return Object.fromEntries(ss.filter((s) => s.cpuMs !== undefined && s.samples.length > 0).map((s) => [s.role, (s.cpuMs ?? 0) / s.samples.length]));
}

export const throughputScenario: Scenario = {
  id: "b",
  title: `b. chat JSON, c=${CONCURRENCY}`,
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 8_000 : 28_000),
  async run(ctx) {
    const title = this.title;
    const ss = sides(ctx, CONCURRENCY);
    await interleaved({
      sides: ss,
      spec: ctx.request(false),
      concurrency: CONCURRENCY,
      rounds: ctx.quick ? 2 : 3,
      perRound: { durationMs: ctx.quick ? 1_000 : 2_500 },
      warmup: { durationMs: ctx.quick ? 500 : 1_000 },
      cpu: ctx.cpu,
    });
    const { direct: d, terapi: t, floor: f, off: o } = summaries(ss, (x) => x.totalMs);
    const r = rate(ss);
    const cpu = cpuPerRequest(ss);
    return {
      errors: failures(title, ss),
      rows: [
        {
          scenario: title,
          metric: "throughput",
          unit: "req/s",
          direct: r.direct,
          terapi: r.terapi,
          floor: r.floor,
          off: r.off,
          compare: "ratio",
          target: r.floor ? { text: "≥ 85% of bare", pass: r.terapi >= 0.85 * r.floor } : { text: "≥ 70% of direct", pass: r.terapi >= 0.7 * r.direct },
        },
        { scenario: title, metric: "latency p50", unit: "ms", direct: d.p50, terapi: t.p50, floor: f?.p50, off: o?.p50, compare: "added" },
        { scenario: title, metric: "latency p99", unit: "ms", direct: d.p99, terapi: t.p99, floor: f?.p99, off: o?.p99, compare: "added" },
        ...(cpu.terapi !== undefined && cpu.floor !== undefined
          ? [
              {
                scenario: title,
                metric: "workerd CPU per request",
                unit: "ms" as const,
                direct: null,
                terapi: cpu.terapi,
                floor: cpu.floor,
                compare: "added" as const,
                // Moves far less with the machine's other work than req/s: on a CPU-bound c=32 run the throughput share tends to this.
                note: `reference column's CPU / this side's: ${((100 * cpu.floor) / cpu.terapi).toFixed(0)}%`,
              },
            ]
          : []),
      ],
      details: {
        concurrency: CONCURRENCY,
        seconds_per_side: ss.map((s) => ({ side: s.role, seconds: s.elapsedMs / 1000, requests: s.samples.length })),
        direct: { ...d, rps: r.direct },
        terapi: { ...t, rps: r.terapi },
        bare_workerd_proxy: f ? { ...f, rps: r.floor } : null,
        usage_off: o ? { ...o, rps: r.off } : null,
        ...(Object.keys(cpu).length ? { cpu_ms_per_request: cpu } : {}),
      },
    };
  },
};
