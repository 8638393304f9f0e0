// Shared by the per-model limit scenarios (models, tokens): a connection of its
// own on a fresh simulator key, a burst of mixed requests sent all at once, and
// the simulator's 429 counts per limit bucket.
import { keepAliveAgent, type RequestSpec, send, type Sample, type Target } from "../lib/http.ts";
import { BUILTIN_KEY, type Limits } from "../../scripts/lib/simulator.ts";
import { summarize } from "../lib/stats.ts";
import type { BenchContext, Row } from "../lib/types.ts";
import { syncsSettled } from "./rate-limit.ts";

export const chatTo = (model: string, content = "Say hello in one short sentence.", maxTokens = 16): RequestSpec => ({
  method: "POST",
  path: "/v1/chat/completions",
  body: JSON.stringify({ model, messages: [{ role: "user", content }], max_tokens: maxTokens }),
});

export const embeddingOf = (input: string): RequestSpec => ({
  method: "POST",
  path: "/v1/embeddings",
  body: JSON.stringify({ model: "text-embedding-3-small", input }),
});

/** One request of a burst, labelled with the model it is for. */
export type Call = { model: string; spec: RequestSpec };
export type Result = { model: string; sample: Sample };

/**
 * A new key with these limits and a connection of its own on it, its first syncs done (they use
 * other buckets, but the burst should meet nothing else). Null when the simulator cannot mint keys.
 */
export async function limitedConnection(ctx: BenchContext, name: string, limits: Limits): Promise<{ key: string; target: Target } | null> {
  const key = await ctx.sim.createKey(limits);
  if (key === BUILTIN_KEY) return null;
  const connectionId = `bench-${name}-${Date.now()}`;
  await ctx.createConnection(connectionId, key);
  await syncsSettled(ctx.terapiOrigin, ctx.secretKey, ctx.integration, connectionId, ctx.deadline);
  await ctx.sim.clearLog(key);
  return { key, target: { ...ctx.terapi, name: "terapi", headers: { ...ctx.terapi.headers, "connection-id": connectionId } } };
}

/** Every call at once, each on its own socket. */
export async function burst(target: Target, calls: Call[]): Promise<Result[]> {
  const agent = keepAliveAgent(calls.length);
  const samples = await Promise.all(calls.map((c) => send(agent, target, c.spec, { timeoutMs: 60_000 })));
  agent.destroy();
  return samples.map((sample, i) => ({ model: calls[i].model, sample }));
}

export const of = (rs: Result[], model: string) => rs.filter((r) => r.model === model).map((r) => r.sample);
export const caller429 = (samples: Sample[]) => samples.filter((s) => s.status === 429).length;
export const p99 = (samples: Sample[]) => summarize(samples.map((s) => s.totalMs)).p99;
/** Seconds from the first request of the burst to the last answer among `samples`. */
export const makespanS = (all: Result[], samples: Sample[]) =>
  (Math.max(...samples.map((s) => s.endedAt)) - Math.min(...all.map((r) => r.sample.startedAt))) / 1000;

/** Anything but 2xx or 429 makes the figures untrustworthy. */
export function otherFailures(title: string, rs: Result[]): string[] {
  const bad = rs.filter((r) => r.sample.status !== 429 && (r.sample.status < 200 || r.sample.status >= 300));
  if (!bad.length) return [];
  const ex = bad[0].sample;
  return [`${title}: ${bad.length}/${rs.length} requests failed with other than 2xx/429, e.g. ${ex.error ?? `${ex.status} ${ex.snippet ?? ""}`}`.slice(0, 600)];
}

export type Bucket429 = { total: number; max_429_in_one_window: number; windows_with_429: number };

/** The simulator's 429 counts for one bucket of a key (`GET /__sim/stats` → `buckets`), or null if it keeps none. */
export function bucket429(stats: unknown, bucket: string): Bucket429 | null {
  const b = (stats as { buckets?: Record<string, { rate_limited?: Bucket429 }> } | null)?.buckets;
  if (!b) return null;
  return b[bucket]?.rate_limited ?? { total: 0, max_429_in_one_window: 0, windows_with_429: 0 };
}

/** Targets shared by the per-model limit scenarios. */
export const MAKESPAN_FACTOR = 1.15;

/** The simulator's 429s for one bucket, against "at most one per window of that bucket". */
export function upstreamRow(scenario: string, bucket: string, b: Bucket429 | null): Row {
  return {
    scenario,
    metric: `upstream 429s, ${bucket}`,
    unit: "count",
    direct: null,
    terapi: b?.total ?? null,
    compare: "none",
    note: b ? `max ${b.max_429_in_one_window} in one window` : "no per-bucket stats in /__sim/stats",
    target: { text: "≤ 1 per bucket window", pass: b !== null && b.max_429_in_one_window <= 1 },
  };
}

/** A makespan against its ideal (`complete`: every request got its answer, else it cannot pass). */
export function makespanRow(scenario: string, metric: string, spanS: number, idealS: number, complete = true): Row {
  return {
    scenario,
    metric,
    unit: "s",
    direct: null,
    terapi: spanS,
    compare: "none",
    note: `${(spanS / idealS).toFixed(2)}× ideal`,
    target: { text: `≤ ${MAKESPAN_FACTOR} × ideal`, pass: complete && spanS <= MAKESPAN_FACTOR * idealS },
  };
}
