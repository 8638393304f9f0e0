/**
 * Reset values as providers send them. OpenAI's `x-ratelimit-reset-*` are Go
 * durations (`20ms`, `1.5s`, `6m0s`, `11m32.334s`); `retry-after-ms` is
 * milliseconds; `retry-after` is seconds or an HTTP date.
 */

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  μs: 0.001,
  ns: 0.000001,
};

// Longest units first so `ms` is not read as `m` followed by `s`.
const PART = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|μs|ns|h|m|s)/y;

/** A Go duration in milliseconds, or null when it is not one. `0` alone is valid (Go prints it). */
export function parseGoDuration(raw: string): number | null {
  const text = raw.trim();
  if (text === "0") return 0;
  if (!text) return null;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (!match || match.index !== start) return null;
    const unitMs = UNIT_MS[match[2] ?? ""];
    if (unitMs === undefined) return null;
    total += Number(match[1]) * unitMs;
  }
  return total;
}

/** `retry-after-ms`: a non-negative number of milliseconds. */
export function parseRetryAfterMs(raw: string | null | undefined): number | null {
  if (raw == null) return null;
  const text = raw.trim();
  if (!/^\d+(?:\.\d+)?$/.test(text)) return null;
  return Number(text);
}

/** `retry-after`: delta seconds or an HTTP date (relative to `now`). */
export function parseRetryAfter(raw: string | null | undefined, now = Date.now()): number | null {
  if (raw == null) return null;
  const text = raw.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A reset header in the provider's declared format, in milliseconds from now. */
export function parseReset(raw: string | null | undefined, format: "go-duration" | "seconds" | "epoch-seconds", now = Date.now()): number | null {
  if (raw == null || raw === "") return null;
  if (format === "go-duration") return parseGoDuration(raw);
  const n = Number(raw.trim());
  if (!Number.isFinite(n) || n < 0) return null;
  return format === "seconds" ? n * 1000 : Math.max(0, n * 1000 - now);
}
