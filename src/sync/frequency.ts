/** The shortest schedule a sync may have. */
const MIN_FREQUENCY_MS = 30_000;
/** The longest: a year (a next run time further out is no schedule, and far enough out overflows a Date). */
const MAX_FREQUENCY_MS = 365 * 86_400_000;

const UNITS: [RegExp, number][] = [
  [/^(s|secs?|seconds?)$/, 1_000],
  [/^(m|mins?|minutes?)$/, 60_000],
  [/^(h|hrs?|hours?)$/, 3_600_000],
  [/^(d|days?)$/, 86_400_000],
  [/^(w|weeks?)$/, 604_800_000],
];

/**
 * `every hour`, `every 5 minutes`, `every 30s`, `every 1h`, `2 days` → milliseconds;
 * null when it cannot be read, is under the 30-second minimum or over a year.
 */
export function parseFrequency(text: string): number | null {
  const m = /^\s*(?:every\s+)?(?:(\d+(?:\.\d+)?)\s*)?([a-z]+)\s*$/i.exec(text);
  if (!m) return null;
  const amount = m[1] === undefined ? 1 : Number(m[1]);
  const unit = UNITS.find(([re]) => re.test(m[2]!.toLowerCase()));
  if (!unit || !(amount > 0)) return null;
  const ms = Math.round(amount * unit[1]);
  return ms >= MIN_FREQUENCY_MS && ms <= MAX_FREQUENCY_MS ? ms : null;
}

/** A stored schedule, whatever was written before the bounds existed, kept inside them. */
export const boundedFrequency = (ms: number): number => (Number.isFinite(ms) ? Math.min(Math.max(ms, MIN_FREQUENCY_MS), MAX_FREQUENCY_MS) : MAX_FREQUENCY_MS);
