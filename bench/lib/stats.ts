import type { Sample } from "./http.ts";

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export type Summary = { n: number; p50: number; p90: number; p99: number; mean: number; min: number; max: number };

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean,
    min: s[0] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
  };
}

export const is2xx = (s: Sample) => s.status >= 200 && s.status < 300;

/** Describes the failed samples (status counts and one example) or returns undefined if all were 2xx. */
export function describeFailures(label: string, samples: Sample[]): string | undefined {
  const bad = samples.filter((s) => !is2xx(s));
  if (bad.length === 0) return undefined;
  const byStatus = new Map<string, number>();
  for (const s of bad) {
    const k = s.error ? `error` : String(s.status);
    byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
  }
  const counts = [...byStatus].map(([k, v]) => `${v}× ${k}`).join(", ");
  const ex = bad[0];
  return `${label}: ${bad.length}/${samples.length} requests failed (${counts}); e.g. ${ex.error ?? `${ex.status} ${ex.snippet ?? ""}`}`.slice(0, 600);
}

/** The median of any array (the mean of the two middle values for an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Differences measured once per process pair (or per cold-start round): the
 * verdict is taken on their median, and the spread says how far one pair's
 * offset (core, memory layout, JIT luck) moves a single difference.
 */
export type Paired = { median: number; min: number; max: number; q1: number; q3: number; each: number[] };

export function paired(each: number[]): Paired {
  const s = [...each].sort((a, b) => a - b);
  // Quartiles as the medians of the lower and upper halves (Tukey's hinges): stable for 4–10 values.
  const half = Math.floor(s.length / 2);
  return {
    median: median(s),
    min: s[0] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
    q1: median(s.slice(0, s.length % 2 ? half + 1 : half)),
    q3: median(s.slice(half)),
    each,
  };
}
