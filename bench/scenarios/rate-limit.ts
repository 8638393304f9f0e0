// (d) 30 concurrent requests on a connection whose key allows 5 requests per
// second: does terapi's per-connection coordination spread them out so the
// caller sees no 429, and how many 429s does it take from the provider?
import { keepAliveAgent, send, type Sample, type Target } from "../lib/http.ts";
import { sleep } from "../../scripts/lib/procs.ts";
import { BUILTIN_KEY, type Simulator } from "../../scripts/lib/simulator.ts";
import type { Scenario } from "../lib/types.ts";
import { chatRequest } from "./common.ts";

const REQUESTS = 30;
const LIMIT = 5;
const WINDOW_MS = 1_000;
/** 30 requests at 5 per second: the last batch can start after 5 windows. */
const IDEAL_S = (Math.ceil(REQUESTS / LIMIT) - 1) * (WINDOW_MS / 1000);

async function burst(target: Target): Promise<{ samples: Sample[]; makespanS: number }> {
  const agent = keepAliveAgent(REQUESTS);
  const samples = await Promise.all(Array.from({ length: REQUESTS }, () => send(agent, target, chatRequest(false), { timeoutMs: 60_000 })));
  agent.destroy();
  const start = Math.min(...samples.map((s) => s.startedAt));
  const end = Math.max(...samples.map((s) => s.endedAt));
  return { samples, makespanS: (end - start) / 1000 };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The simulator's count of 429s for a key from `GET /__sim/stats` (`by_status["429"]`, else `rate_limited.total`). */
export function count429(stats: unknown): number | null {
  if (!isRecord(stats)) return null;
  if (isRecord(stats.by_status) && typeof stats.by_status["429"] === "number") return stats.by_status["429"];
  if (isRecord(stats.rate_limited) && typeof stats.rate_limited.total === "number") return stats.rate_limited.total;
  return isRecord(stats.by_status) ? 0 : null;
}

const tally = (samples: Sample[]) => ({
  ok: samples.filter((s) => s.status >= 200 && s.status < 300).length,
  r429: samples.filter((s) => s.status === 429).length,
  other: samples.filter((s) => s.status !== 429 && (s.status < 200 || s.status >= 300)),
});

/** Waits until no sync of the connection is still to run or running (no sync API: returns at once). */
export async function syncsSettled(origin: string, secretKey: string, integration: string, connectionId: string, deadline: number): Promise<void> {
  const url = `${origin}/sync/status?provider_config_key=${encodeURIComponent(integration)}&connection_id=${encodeURIComponent(connectionId)}`;
  while (performance.now() < deadline) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${secretKey}` }, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) {
      await res.body?.cancel();
      return;
    }
    const { syncs } = (await res.json()) as { syncs: { status: string }[] };
    if (syncs.every((s) => s.status !== "STOPPED" && s.status !== "RUNNING")) return;
    await sleep(100);
  }
}

async function freshKey(sim: Simulator): Promise<string> {
  return sim.createKey({ requests: { limit: LIMIT, window_ms: WINDOW_MS }, tokens: { limit: 1_000_000_000, window_ms: 60_000 } });
}

export const rateLimitScenario: Scenario = {
  id: "d",
  title: `d. ${REQUESTS} concurrent, key ${LIMIT} req/s`,
  modes: ["miniflare"],
  budgetMs: () => 25_000,
  async run(ctx) {
    const title = this.title;
    const tKey = await freshKey(ctx.sim);
    if (tKey === BUILTIN_KEY) return { rows: [], errors: [], skipped: "the simulator cannot mint a rate-limited key (POST /__sim/keys)" };
    const connectionId = `bench-rl-${Date.now()}`;
    await ctx.createConnection(connectionId, tKey);
    // Creating the connection verified the key upstream and started its first syncs, which
    // share the same 5 req/s: let them finish, then start the burst on a fresh window.
    await syncsSettled(ctx.terapiOrigin, ctx.secretKey, ctx.integration, connectionId, ctx.deadline);
    await sleep(WINDOW_MS + 100);
    const t = await burst({ ...ctx.terapi, name: "terapi", headers: { ...ctx.terapi.headers, "connection-id": connectionId } });
    const simStats = await ctx.sim.stats(tKey);
    const sim429 = count429(simStats);

    // For contrast: the same burst straight at the simulator, no coordination, no retries.
    const dKey = await freshKey(ctx.sim);
    await sleep(100);
    const d = await burst({ ...ctx.direct, name: "direct", headers: { ...ctx.direct.headers, authorization: `Bearer ${dKey}` } });

    const tt = tally(t.samples);
    const dt = tally(d.samples);
    const errors: string[] = [];
    if (tt.other.length) {
      const ex = tt.other[0];
      errors.push(
        `${title} terapi: ${tt.other.length}/${REQUESTS} requests failed with other than 2xx/429, e.g. ${ex.error ?? `${ex.status} ${ex.snippet ?? ""}`}`.slice(
          0,
          600,
        ),
      );
    }
    return {
      errors,
      rows: [
        {
          scenario: title,
          metric: `makespan (ideal ${IDEAL_S.toFixed(1)} s)`,
          unit: "s",
          direct: d.makespanS,
          terapi: t.makespanS,
          compare: "none",
          note: `terapi ${(t.makespanS / IDEAL_S).toFixed(2)}× ideal`,
        },
        { scenario: title, metric: "2xx to the caller", unit: "count", direct: dt.ok, terapi: tt.ok, compare: "none" },
        {
          scenario: title,
          metric: "429s seen by the caller",
          unit: "count",
          direct: dt.r429,
          terapi: tt.r429,
          compare: "none",
          target: { text: "terapi = 0", pass: tt.r429 === 0 },
        },
        {
          scenario: title,
          metric: "429s the simulator sent",
          unit: "count",
          direct: null,
          terapi: sim429,
          compare: "none",
          note: sim429 === null ? "not found in /__sim/stats" : undefined,
        },
      ],
      details: {
        ideal_makespan_s: IDEAL_S,
        direct_note: "same burst straight at the simulator on its own fresh key, no retries",
        terapi: {
          makespan_s: t.makespanS,
          ok: tt.ok,
          caller_429: tt.r429,
          other: tt.other.map((s) => s.status),
          simulator_429: sim429,
          simulator_stats: simStats,
        },
        direct: { makespan_s: d.makespanS, ok: dt.ok, caller_429: dt.r429 },
        completion_s: t.samples.map((s) => Number(((s.endedAt - Math.min(...t.samples.map((x) => x.startedAt))) / 1000).toFixed(3))).sort((a, b) => a - b),
      },
    };
  },
};
