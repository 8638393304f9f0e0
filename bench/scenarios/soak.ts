// (soak) `npm run bench -- --soak`: minutes of ordinary mixed load on one
// connection, 16 concurrent chat calls plus a /records reader, across several
// of the connection cache's 15 s refreshes. Counts every non-2xx answer (and
// transport error); the target is none at all.
import { performance } from "node:perf_hooks";
import { closedLoop, keepAliveAgent, type Sample, send } from "../lib/http.ts";
import { describeFailures } from "../lib/stats.ts";
import type { Scenario } from "../lib/types.ts";

const CHAT_CONCURRENCY = 16;
/** The isolate's connection cache keeps a connection this long (src/connections/cache.ts). */
const CACHE_TTL_S = 15;

export const DEFAULT_SOAK_SECONDS = 180;

const isOk = (s: Sample) => !s.error && s.status >= 200 && s.status < 300;

export function soakScenario(seconds: number): Scenario {
  return {
    id: "soak",
    title: `soak: ${CHAT_CONCURRENCY} concurrent chat calls + a /records reader, ${seconds} s`,
    modes: ["miniflare"],
    budgetMs: () => seconds * 1000 + 10_000,
    async run(ctx) {
      const title = this.title;
      const durationMs = seconds * 1000;
      const chatAgent = keepAliveAgent(CHAT_CONCURRENCY);
      const recordsAgent = keepAliveAgent(1);
      const recordsTarget = { name: "terapi /records", base: ctx.terapiOrigin, headers: ctx.terapi.headers };
      const t0 = performance.now();
      const [chat, records] = await Promise.all([
        closedLoop({ concurrency: CHAT_CONCURRENCY, durationMs, fire: () => send(chatAgent, ctx.terapi, ctx.request(false), { timeoutMs: 30_000 }) }),
        closedLoop({
          concurrency: 1,
          durationMs,
          fire: () => send(recordsAgent, recordsTarget, { method: "GET", path: "/records?model=models&limit=100" }, { timeoutMs: 30_000 }),
        }),
      ]);
      chatAgent.destroy();
      recordsAgent.destroy();
      const all = [...chat.samples, ...records.samples];
      const bad = all.filter((s) => !isOk(s));
      // When in the run the failures came, in seconds (a cluster at multiples of the cache TTL points at refreshes).
      const badAt = bad.map((s) => Math.round((s.startedAt - t0) / 100) / 10);
      const byStatus: Record<string, number> = {};
      for (const s of bad) byStatus[s.error ? "transport error" : String(s.status)] = (byStatus[s.error ? "transport error" : String(s.status)] ?? 0) + 1;
      const errors = [describeFailures(`${title} chat`, chat.samples), describeFailures(`${title} /records`, records.samples)].filter((e): e is string => !!e);
      ctx.log(`soak: ${all.length} requests, ${bad.length} non-2xx ${JSON.stringify(byStatus)}`);
      return {
        errors,
        rows: [
          {
            scenario: title,
            metric: "requests",
            unit: "count",
            direct: null,
            terapi: all.length,
            compare: "none",
            note: `${chat.samples.length} chat, ${records.samples.length} /records; ${Math.floor(seconds / CACHE_TTL_S)} cache refreshes`,
          },
          {
            scenario: title,
            metric: "non-2xx answers",
            unit: "count",
            direct: null,
            terapi: bad.length,
            compare: "none",
            target: { text: "0", pass: bad.length === 0 },
            note: bad.length ? JSON.stringify(byStatus) : undefined,
          },
        ],
        details: {
          seconds,
          chat_concurrency: CHAT_CONCURRENCY,
          chat_requests: chat.samples.length,
          records_requests: records.samples.length,
          non_2xx: bad.length,
          by_status: byStatus,
          failed_at_s: badAt.slice(0, 200),
          examples: bad.slice(0, 5).map((s) => s.error ?? `${s.status} ${s.snippet ?? ""}`.slice(0, 300)),
        },
      };
    },
  };
}
