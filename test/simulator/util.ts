import { createHash, randomBytes } from "node:crypto";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = Record<string, unknown>;

/** Random hex id with a prefix, e.g. id("file-", 24). */
let pool = Buffer.alloc(0);
let poolPos = 0;
export function randomHex(chars: number): string {
  const bytes = Math.ceil(chars / 2);
  if (poolPos + bytes > pool.length) {
    pool = randomBytes(Math.max(65536, bytes));
    poolPos = 0;
  }
  const s = pool.toString("hex", poolPos, poolPos + bytes).slice(0, chars);
  poolPos += bytes;
  return s;
}
export function newId(prefix: string, chars = 24): string {
  return prefix + randomHex(chars);
}

export const nowSec = (): number => Math.floor(Date.now() / 1000);

/** Go's time.Duration String() for whole milliseconds: 850ms, 1.5s, 6m0s, 11m32.334s, 1h0m0s. */
export function goDuration(ms: number): string {
  ms = Math.max(0, Math.ceil(ms));
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const restMs = ms % 60_000;
  const whole = Math.floor(restMs / 1000);
  const frac = restMs % 1000;
  let s = String(whole);
  if (frac) s += "." + String(frac).padStart(3, "0").replace(/0+$/, "");
  let out = "";
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  return out + s + "s";
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Small deterministic PRNG (mulberry32) seeded from a string. */
export function seededRandom(seed: string): () => number {
  let a = createHash("sha256").update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
export function str(o: Obj, k: string): string | undefined {
  const v = o[k];
  return typeof v === "string" ? v : undefined;
}
export function num(o: Obj, k: string): number | undefined {
  const v = o[k];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Collects every string found in a JSON value (message contents, inputs…). */
export function textOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) textOf(x, out);
  else if (isObj(v)) {
    if (typeof v.content === "string" || Array.isArray(v.content)) textOf(v.content, out);
    else if (typeof v.text === "string") out.push(v.text);
    else if (typeof v.input === "string" || Array.isArray(v.input)) textOf(v.input, out);
  }
  return out;
}

export function charTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
