import type http from "node:http";
import { type RequestSpec, type Sample, type Target, closedLoop, keepAliveAgent, send } from "../lib/http.ts";
import { describeFailures, type Summary, summarize } from "../lib/stats.ts";
import type { BenchContext, Row } from "../lib/types.ts";

/** A small Chat Completions body, the same for both targets. */
export function chatRequest(stream: boolean): RequestSpec {
  return {
    method: "POST",
    path: "/v1/chat/completions",
    body: JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Say hello in one short sentence." }],
      max_tokens: 16,
      ...(stream ? { stream: true } : {}),
    }),
  };
}

export type Role = "direct" | "terapi" | "floor" | "off";
export type Side = { role: Role; target: Target; agent: http.Agent; samples: Sample[]; elapsedMs: number };

/** direct, terapi, the bare workerd proxy and terapi with usage off when this mode has them; each with its own keep-alive agent. */
export function sides(ctx: BenchContext, maxSockets: number): Side[] {
  const mk = (role: Role, target: Target): Side => ({ role, target, agent: keepAliveAgent(maxSockets), samples: [], elapsedMs: 0 });
  const out = [mk("direct", ctx.direct), mk("terapi", ctx.terapi)];
  if (ctx.floor) out.push(mk("floor", ctx.floor));
  if (ctx.usageOff) out.push(mk("off", ctx.usageOff));
  return out;
}

/**
 * Warm-up, then `rounds` of one block per side, the order rotating every round
 * so that drift on a shared 2-core machine hits every side alike.
 */
export async function interleaved(opts: {
  sides: Side[];
  spec: RequestSpec;
  concurrency: number;
  rounds: number;
  perRound: { count?: number; durationMs?: number };
  warmup: { count?: number; durationMs?: number };
  keepTail?: boolean;
}): Promise<void> {
  const fire = (s: Side) => () => send(s.agent, s.target, opts.spec, { keepTail: opts.keepTail, timeoutMs: 30_000 });
  for (const s of opts.sides) await closedLoop({ concurrency: opts.concurrency, ...opts.warmup, fire: fire(s) });
  const n = opts.sides.length;
  for (let r = 0; r < opts.rounds; r++) {
    const order = Array.from({ length: n }, (_, i) => opts.sides[(i + r) % n]);
    if (r % 2 === 1) order.reverse();
    for (const s of order) {
      const { samples, elapsedMs } = await closedLoop({ concurrency: opts.concurrency, ...opts.perRound, fire: fire(s) });
      s.samples.push(...samples);
      s.elapsedMs += elapsedMs;
    }
  }
  for (const s of opts.sides) s.agent.destroy();
}

export type BySide<T> = { direct: T; terapi: T; floor?: T; off?: T };

/** Summaries of one measure (e.g. total time) per side. */
export function summaries(ss: Side[], measure: (s: Sample) => number): BySide<Summary> {
  const get = (role: Role) => ss.find((s) => s.role === role);
  const sum = (role: Role) => {
    const side = get(role);
    return side ? summarize(side.samples.map(measure)) : undefined;
  };
  return { direct: sum("direct") as Summary, terapi: sum("terapi") as Summary, floor: sum("floor"), off: sum("off") };
}

export function rate(ss: Side[]): BySide<number> {
  const r = (role: Role) => {
    const s = ss.find((x) => x.role === role);
    return s ? (s.samples.length * 1000) / s.elapsedMs : undefined;
  };
  return { direct: r("direct") as number, terapi: r("terapi") as number, floor: r("floor"), off: r("off") };
}

export function failures(title: string, ss: Side[]): string[] {
  return ss.map((s) => describeFailures(`${title} ${s.target.name}`, s.samples)).filter((e): e is string => !!e);
}

/** Issue 16's budget: what usage counting may add, on − off, to a p50 (ms). */
export const USAGE_BUDGET_MS = 0.05;

/** The row that judges issue 16's budget on one p50: terapi with usage counting on against the same with it off. */
export function usageBudgetRow(scenario: string, metric: string, on: number, off: number): Row {
  return {
    scenario,
    metric: `${metric}: usage on − off (issue 16)`,
    unit: "ms",
    direct: null,
    terapi: on,
    off,
    compare: "added",
    target: { text: `on − off ≤ ${USAGE_BUDGET_MS} ms`, pass: on - off <= USAGE_BUDGET_MS },
  };
}
