// (models) One connection, limits per model as OpenAI keeps them: gpt-4o allows
// 4 requests per 1 s window, gpt-4o-mini and text-embedding-3-small have limits
// nobody reaches. 16 gpt-4o calls, 40 gpt-4o-mini and 20 embeddings go at once.
// Does gpt-4o's limit hold up only gpt-4o (the fast models answered as fast as
// when sent alone), with no 429 for the caller and at most one from the
// provider per bucket window?
import type { Limits } from "../../scripts/lib/simulator.ts";
import type { Row, Scenario } from "../lib/types.ts";
import {
  bucket429,
  burst,
  type Call,
  caller429,
  chatTo,
  embeddingOf,
  limitedConnection,
  makespanRow,
  makespanS,
  of,
  otherFailures,
  p99,
  upstreamRow,
} from "./limits.ts";

const SLOW = "gpt-4o";
const MINI = "gpt-4o-mini";
const EMBED = "text-embedding-3-small";
const SLOW_CALLS = 16;
const MINI_CALLS = 40;
const EMBED_CALLS = 20;
const SLOW_LIMIT = 4;
const WINDOW_MS = 1_000;
/**
 * gpt-4o's windows are fixed, 1 s long, the first opened by the burst's first gpt-4o request: 16
 * requests at 4 per window need ⌈16/4⌉ = 4 windows, so the last 4 can start 3 windows after the
 * first. Ideal makespan (first request sent → last gpt-4o answer) = (⌈16/4⌉ − 1) × 1 s = 3 s.
 */
const IDEAL_S = ((Math.ceil(SLOW_CALLS / SLOW_LIMIT) - 1) * WINDOW_MS) / 1000;
const P99_SLACK_MS = 50;

const LIMITS: Limits = {
  requests: { limit: 100_000, window_ms: WINDOW_MS },
  tokens: { limit: 1_000_000_000, window_ms: WINDOW_MS },
  models: { [SLOW]: { requests: { limit: SLOW_LIMIT, window_ms: WINDOW_MS }, tokens: { limit: 1_000_000_000, window_ms: WINDOW_MS } } },
};

/**
 * The calls of each model spread evenly through the burst, the first group's first call leading
 * (in the mixed burst a gpt-4o call goes first: what terapi learns first is gpt-4o's limit).
 */
function interleave(groups: Call[][]): Call[] {
  const tagged = groups.flatMap((g, k) => g.map((c, i) => ({ c, at: (i + (k === 0 ? 0 : 0.5)) / g.length })));
  return tagged.sort((a, b) => a.at - b.at).map((t) => t.c);
}

function fastCalls(): Call[][] {
  return [
    Array.from({ length: MINI_CALLS }, () => ({ model: MINI, spec: chatTo(MINI) })),
    Array.from({ length: EMBED_CALLS }, (_, i) => ({ model: EMBED, spec: embeddingOf(`bench embedding ${i}`) })),
  ];
}

export const modelsScenario: Scenario = {
  id: "models",
  title: `models. ${SLOW_CALLS}× ${SLOW} (${SLOW_LIMIT}/s) + ${MINI_CALLS}× ${MINI} + ${EMBED_CALLS}× embeddings, one connection`,
  modes: ["miniflare"],
  budgetMs: () => 20_000,
  async run(ctx) {
    const title = this.title;
    // Warm the isolate on the bench's main connection (limits nobody reaches), so that neither
    // measured burst pays for a cold start; both measured connections are new, alike.
    await burst(ctx.terapi, interleave(fastCalls()));
    // The fast models alone first (a connection of their own, the same counts, no gpt-4o traffic).
    const alone = await limitedConnection(ctx, "models-alone", LIMITS);
    if (!alone) return { rows: [], errors: [], skipped: "the simulator cannot mint a rate-limited key (POST /__sim/keys)" };
    const a = await burst(alone.target, interleave(fastCalls()));

    const mixed = await limitedConnection(ctx, "models", LIMITS);
    if (!mixed) return { rows: [], errors: [], skipped: "the simulator cannot mint a rate-limited key" };
    const slow = Array.from({ length: SLOW_CALLS }, () => ({ model: SLOW, spec: chatTo(SLOW) }));
    const m = await burst(mixed.target, interleave([slow, ...fastCalls()]));
    const stats = await ctx.sim.stats(mixed.key);

    // For contrast: the same burst straight at the simulator on a fresh key, no coordination, no retries.
    const dKey = await ctx.sim.createKey(LIMITS);
    const d = await burst(
      { ...ctx.direct, name: "direct", headers: { ...ctx.direct.headers, authorization: `Bearer ${dKey}` } },
      interleave([slow, ...fastCalls()]),
    );

    const span = makespanS(m, of(m, SLOW));
    const callerT = caller429(m.map((r) => r.sample));
    const rows: Row[] = [
      {
        scenario: title,
        metric: "429s seen by the caller",
        unit: "count",
        direct: caller429(d.map((r) => r.sample)),
        terapi: callerT,
        compare: "none",
        target: { text: "terapi = 0", pass: callerT === 0 },
      },
    ];
    const buckets: Record<string, unknown> = {};
    for (const bucket of [SLOW, MINI, EMBED]) {
      const b = bucket429(stats, bucket);
      buckets[bucket] = b;
      rows.push(upstreamRow(title, bucket, b));
    }
    rows.push(
      makespanRow(
        title,
        `${SLOW} makespan (ideal (⌈${SLOW_CALLS}/${SLOW_LIMIT}⌉−1) × ${WINDOW_MS / 1000} s = ${IDEAL_S.toFixed(1)} s)`,
        span,
        IDEAL_S,
        of(m, SLOW).every((s) => s.status >= 200 && s.status < 300),
      ),
    );
    const p99s: Record<string, { alone_ms: number; with_slow_ms: number }> = {};
    for (const model of [MINI, EMBED]) {
      const alone99 = p99(of(a, model));
      const with99 = p99(of(m, model));
      p99s[model] = { alone_ms: alone99, with_slow_ms: with99 };
      rows.push(
        { scenario: title, metric: `${model} p99, sent alone`, unit: "ms", direct: null, terapi: alone99, compare: "none" },
        {
          scenario: title,
          metric: `${model} p99, with ${SLOW} traffic`,
          unit: "ms",
          direct: null,
          terapi: with99,
          compare: "none",
          note: `${with99 - alone99 >= 0 ? "+" : "−"}${Math.abs(with99 - alone99).toFixed(1)} ms vs alone`,
          target: { text: `≤ alone + ${P99_SLACK_MS} ms`, pass: with99 <= alone99 + P99_SLACK_MS },
        },
      );
    }
    return {
      errors: [...otherFailures(`${title} terapi`, m), ...otherFailures(`${title} terapi alone`, a)],
      rows,
      details: {
        ideal_makespan_s: IDEAL_S,
        ideal_definition: `${SLOW}: (ceil(${SLOW_CALLS}/${SLOW_LIMIT}) - 1) fixed windows of ${WINDOW_MS} ms, from the burst's first request to the last ${SLOW} answer`,
        limits: LIMITS,
        terapi: {
          makespan_s: span,
          caller_429: callerT,
          by_model: Object.fromEntries(
            [SLOW, MINI, EMBED].map((k) => [k, { ok: of(m, k).filter((s) => s.status < 300).length, caller_429: caller429(of(m, k)) }]),
          ),
          upstream_429: buckets,
          p99: p99s,
          simulator_stats: stats,
        },
        direct_note: "the same mixed burst straight at the simulator on a fresh key, no retries",
        direct: { caller_429: caller429(d.map((r) => r.sample)) },
      },
    };
  },
};
