// (tokens) One connection whose key allows 6,000 tokens per 1 s window (and
// requests nobody reaches): 30 chat requests of 1,000 tokens each by the
// simulator's up-front estimate, all at once. Does terapi keep them within the
// token budget, so no caller sees a 429 and the provider refuses at most one
// per window, in about the time the budget allows?
import type { Limits } from "../../scripts/lib/simulator.ts";
import type { Scenario } from "../lib/types.ts";
import { bucket429, burst, type Call, caller429, chatTo, limitedConnection, makespanRow, makespanS, otherFailures, upstreamRow } from "./limits.ts";

const MODEL = "gpt-4o-mini";
const CALLS = 30;
const TOKEN_LIMIT = 6_000;
const WINDOW_MS = 1_000;
/** The simulator charges ⌈prompt chars / 4⌉ + max_tokens: 800 chars + 800 max tokens = 1,000 tokens. */
const PROMPT = "Summarise the following notes in one line. ".repeat(19).slice(0, 800);
const MAX_TOKENS = 800;
const TOKENS_EACH = Math.ceil(PROMPT.length / 4) + MAX_TOKENS;
/**
 * At full token use: 30 × 1,000 tokens need ⌈30,000 / 6,000⌉ = 5 windows; the last requests can
 * start 4 windows after the first. Ideal makespan = (⌈30 × 1,000 / 6,000⌉ − 1) × 1 s = 4 s.
 */
const WINDOWS = Math.ceil((CALLS * TOKENS_EACH) / TOKEN_LIMIT);
const IDEAL_S = ((WINDOWS - 1) * WINDOW_MS) / 1000;

const LIMITS: Limits = { requests: { limit: 100_000, window_ms: WINDOW_MS }, tokens: { limit: TOKEN_LIMIT, window_ms: WINDOW_MS } };

export const tokensScenario: Scenario = {
  id: "tokens",
  title: `tokens. ${CALLS}× ${TOKENS_EACH.toLocaleString("en-US")}-token chats, key ${TOKEN_LIMIT.toLocaleString("en-US")} tokens/s`,
  modes: ["miniflare"],
  budgetMs: () => 15_000,
  async run(ctx) {
    const title = this.title;
    const conn = await limitedConnection(ctx, "tokens", LIMITS);
    if (!conn) return { rows: [], errors: [], skipped: "the simulator cannot mint a rate-limited key (POST /__sim/keys)" };
    const calls: Call[] = Array.from({ length: CALLS }, () => ({ model: MODEL, spec: chatTo(MODEL, PROMPT, MAX_TOKENS) }));
    const t = await burst(conn.target, calls);
    const stats = await ctx.sim.stats(conn.key);
    const b = bucket429(stats, MODEL);

    // For contrast: the same burst straight at the simulator on a fresh key, no coordination, no retries.
    const dKey = await ctx.sim.createKey(LIMITS);
    const d = await burst({ ...ctx.direct, name: "direct", headers: { ...ctx.direct.headers, authorization: `Bearer ${dKey}` } }, calls);

    const samples = t.map((r) => r.sample);
    const ok = samples.filter((s) => s.status >= 200 && s.status < 300);
    const span = ok.length ? makespanS(t, ok) : Number.NaN;
    const callerT = caller429(samples);
    return {
      errors: otherFailures(`${title} terapi`, t),
      rows: [
        {
          scenario: title,
          metric: "2xx to the caller",
          unit: "count",
          direct: d.filter((r) => r.sample.status < 300).length,
          terapi: ok.length,
          compare: "none",
        },
        {
          scenario: title,
          metric: "429s seen by the caller",
          unit: "count",
          direct: caller429(d.map((r) => r.sample)),
          terapi: callerT,
          compare: "none",
          target: { text: "terapi = 0", pass: callerT === 0 },
        },
        upstreamRow(title, MODEL, b),
        makespanRow(
          title,
          `makespan of the 2xx (ideal (⌈${CALLS}×${TOKENS_EACH}/${TOKEN_LIMIT}⌉−1) × ${WINDOW_MS / 1000} s = ${IDEAL_S.toFixed(1)} s)`,
          span,
          IDEAL_S,
          ok.length === CALLS,
        ),
      ],
      details: {
        ideal_makespan_s: IDEAL_S,
        ideal_definition: `(ceil(${CALLS} x ${TOKENS_EACH} / ${TOKEN_LIMIT}) - 1) fixed token windows of ${WINDOW_MS} ms, from the first request to the last answer`,
        tokens_each: TOKENS_EACH,
        limits: LIMITS,
        terapi: { makespan_s: span, ok: ok.length, caller_429: callerT, upstream_429: b, simulator_stats: stats },
        direct_note: "the same burst straight at the simulator on a fresh key, no retries",
        direct: { caller_429: caller429(d.map((r) => r.sample)) },
      },
    };
  },
};
