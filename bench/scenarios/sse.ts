// (c) Streamed chat completion (SSE): time to first byte, and what terapi adds to it.
import { describeFailures, summarize } from "../lib/stats.ts";
import type { Scenario } from "../lib/types.ts";
import { closeAgents, interleaved, sides } from "./common.ts";

export const sseScenario: Scenario = {
  id: "c",
  title: "c. chat SSE, c=1",
  modes: ["miniflare", "wrangler-dev"],
  budgetMs: (quick) => (quick ? 5_000 : 15_000),
  async run(ctx) {
    const ss = sides(ctx.direct, ctx.terapi, 1);
    await interleaved({
      sides: ss,
      spec: ctx.request(true),
      concurrency: 1,
      rounds: ctx.quick ? 4 : 6,
      perRound: { count: ctx.quick ? 40 : 100 },
      warmup: { count: ctx.quick ? 20 : 50 },
      keepTail: true,
    });
    closeAgents(ss);
    const title = this.title;
    const errors = ss.map((s) => describeFailures(`${title} ${s.target.name}`, s.samples)).filter((e): e is string => !!e);
    for (const s of ss) {
      const unfinished = s.samples.filter((x) => x.status === 200 && !x.snippet?.includes("[DONE]")).length;
      if (unfinished) errors.push(`${title} ${s.target.name}: ${unfinished}/${s.samples.length} streams did not end with data: [DONE]`);
    }
    const [dT, tT] = ss.map((s) => summarize(s.samples.map((x) => x.firstByteMs)));
    const [dH, tH] = ss.map((s) => summarize(s.samples.map((x) => x.headersMs)));
    const [dAll, tAll] = ss.map((s) => summarize(s.samples.map((x) => x.totalMs)));
    return {
      errors,
      rows: [
        { scenario: title, metric: "TTFB p50 (first body byte)", unit: "ms", direct: dT.p50, terapi: tT.p50, compare: "added", target: { text: "added ≤ 2 ms", pass: tT.p50 - dT.p50 <= 2 } },
        { scenario: title, metric: "TTFB p99", unit: "ms", direct: dT.p99, terapi: tT.p99, compare: "added" },
        { scenario: title, metric: "headers p50", unit: "ms", direct: dH.p50, terapi: tH.p50, compare: "added" },
        { scenario: title, metric: "whole stream p50", unit: "ms", direct: dAll.p50, terapi: tAll.p50, compare: "added" },
      ],
      details: { streams_per_side: dT.n, ttfb: { direct: dT, terapi: tT }, headers: { direct: dH, terapi: tH }, total: { direct: dAll, terapi: tAll } },
    };
  },
};
