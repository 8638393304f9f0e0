import { type RequestSpec, type Sample, type Target, closedLoop, keepAliveAgent, send } from "../lib/http.ts";
import { cpuMs } from "../../scripts/lib/procs.ts";
import { describeFailures, type Paired, paired, type Summary, summarize } from "../lib/stats.ts";
import type { BenchContext, Role, Row, ScenarioResult, Side } from "../lib/types.ts";

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
  /**
   * Blocks in an order where every side follows every other side equally often (`balancedOrder`), instead of
   * rounds of one block per side: what runs just before a block (another workerd's work after its answer, a
   * direct call) then weighs on every side alike. The rounds are rounded up to a multiple of (sides − 1).
   */
  balanced?: boolean;
  /** Each side's workerd processes, by role: their CPU time during the side's own blocks is added up in `Side.cpuMs`. */
  cpu?: BenchContext["cpu"];
}): Promise<void> {
  const fire = (s: Side) => () => send(s.agent, s.target, opts.spec, { keepTail: opts.keepTail, timeoutMs: 30_000 });
  for (const s of opts.sides) await closedLoop({ concurrency: opts.concurrency, ...opts.warmup, fire: fire(s) });
  const n = opts.sides.length;
  const order: number[] = [];
  if (opts.balanced) order.push(...balancedOrder(n, opts.rounds));
  else
    for (let r = 0; r < opts.rounds; r++) {
      const round = Array.from({ length: n }, (_, i) => (i + r) % n);
      order.push(...(r % 2 === 1 ? round.reverse() : round));
    }
  for (const i of order) {
    const s = opts.sides[i];
    const pids = opts.cpu?.[s.role]?.();
    const cpu0 = pids ? cpuMs(pids) : 0;
    const { samples, elapsedMs } = await closedLoop({ concurrency: opts.concurrency, ...opts.perRound, fire: fire(s) });
    if (pids) s.cpuMs = (s.cpuMs ?? 0) + cpuMs(pids) - cpu0;
    s.samples.push(...samples);
    s.elapsedMs += elapsedMs;
  }
  for (const s of opts.sides) s.agent.destroy();
}

/**
 * Side indexes 0…n−1, each at least `rounds` times, such that every side comes right after every other
 * side equally often: an Eulerian circuit of the complete directed graph on n sides (each of its n(n−1)
 * edges once, each side n−1 times), repeated. Rounds in rotating order leave that uneven (with three
 * sides, one side followed the direct calls twice as often as another).
 */
export function balancedOrder(n: number, rounds: number): number[] {
  if (n <= 1) return Array.from({ length: rounds }, () => 0);
  // Hierholzer's algorithm: each side's unused successors, walked until stuck, spliced back.
  const next = Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => b).filter((b) => b !== a));
  const stack = [0];
  const circuit: number[] = [];
  while (stack.length) {
    const at = stack[stack.length - 1];
    const to = next[at].shift();
    if (to === undefined) circuit.push(stack.pop() ?? 0);
    else stack.push(to);
  }
  circuit.reverse().pop(); // closed walk: its last node is its first
  const times = Math.ceil(rounds / (n - 1));
  return Array.from({ length: times }, () => circuit).flat();
}

/** `total` requests per side in blocks of `block` (`--block=N`): the rounds of `interleaved`. */
export function blocks(total: number, block: number): { rounds: number; perRound: { count: number } } {
  const count = Math.max(1, Math.min(block, total));
  return { rounds: Math.ceil(total / count), perRound: { count } };
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

/** Each role's samples over every pair, as one side (the printed figures: p50 of all of them, throughput over all blocks). */
export function pooled(pairs: Side[][]): Side[] {
  const out = new Map<Role, Side>();
  for (const ss of pairs)
    for (const s of ss) {
      const o = out.get(s.role);
      if (o) {
        o.samples.push(...s.samples);
        o.elapsedMs += s.elapsedMs;
      } else out.set(s.role, { ...s, samples: [...s.samples] });
    }
  return [...out.values()];
}

/** `figure` of side `a` minus that of side `b`, once per pair; undefined for a single pair or a side the pairs lack. */
export function perPair(pairs: Side[][], measure: (x: Sample) => number, figure: (s: Summary) => number, a: Role, b: Role): Paired | undefined {
  if (pairs.length < 2) return undefined;
  const each: number[] = [];
  for (const ss of pairs) {
    const [sa, sb] = [ss.find((s) => s.role === a), ss.find((s) => s.role === b)];
    if (!sa || !sb) return undefined;
    each.push(figure(summarize(sa.samples.map(measure))) - figure(summarize(sb.samples.map(measure))));
  }
  return paired(each);
}

/**
 * A target on "terapi − reference ≤ limit": judged on the median of the per-pair differences when there are
 * pairs, else on the one difference. `what` names the reference ("bare", "off").
 */
export function differenceTarget(what: string, limit: number, pairs: Paired | undefined, a: number, b: number): Pick<Row, "target" | "pairs"> {
  const diff = pairs?.median ?? a - b;
  return { target: { text: `${pairs ? "median of pairs: " : ""}≤ ${what} + ${limit.toFixed(2)} ms`, pass: diff <= limit }, ...(pairs ? { pairs } : {}) };
}

/** A paired scenario's `run` for one process set (wrangler dev, or no bare Worker to pair with): its report of one measure. */
/** A latency row: one statistic of every side's summary, compared as time added (the target and note spread on top). */
export function latencyRow(scenario: string, metric: string, by: BySide<Summary>, stat: (s: Summary) => number): Row {
  return {
    scenario,
    metric,
    unit: "ms",
    direct: stat(by.direct),
    terapi: stat(by.terapi),
    floor: by.floor && stat(by.floor),
    off: by.off && stat(by.off),
    compare: "added",
  };
}

export async function runOnce(ctx: BenchContext, paired: { measure: (ctx: BenchContext) => Promise<Side[]>; report: (pairs: Side[][]) => ScenarioResult }) {
  return paired.report([await paired.measure(ctx)]);
}

/** Issue 16's budget: what usage counting may add, on − off, to a p50 (ms). */
export const USAGE_BUDGET_MS = 0.05;

/** The row that judges issue 16's budget on one p50: terapi with usage counting on against the same with it off. */
export function usageBudgetRow(scenario: string, metric: string, on: number, off: number, pairs?: Paired): Row {
  return {
    scenario,
    metric: `${metric}: usage on − off (issue 16)`,
    unit: "ms",
    direct: null,
    terapi: on,
    off,
    compare: "added",
    ...differenceTarget("off", USAGE_BUDGET_MS, pairs, on, off),
  };
}
