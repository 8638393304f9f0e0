// Where a CPU profile's time goes, by terapi's own source files and packages:
// the deploy bundle's frames are mapped back through its source map.
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import type { CpuProfile } from "./inspector.ts";

type Frame = CpuProfile["nodes"][number]["callFrame"];

export type Breakdown = {
  totalMs: number;
  /** Time by what the sample was running (self time), grouped. */
  self: { group: string; ms: number; pct: number }[];
  /** Time of samples with a frame of this group anywhere in their stack (inclusive). */
  inclusive: { group: string; ms: number; pct: number }[];
  /** The functions with the most self time. */
  functions: { fn: string; ms: number; pct: number }[];
};

/** `src/proxy/forward.ts`, `node_modules/hono`, `(garbage collector)`, `(native)`, … */
function groupOf(frame: Frame, map: SourceMap | undefined, bundleUrl: (u: string) => boolean): { group: string; where: string } {
  const name = frame.functionName;
  if (!frame.url) return { group: name.startsWith("(") ? name : "(native)", where: name || "(anonymous)" };
  if (!bundleUrl(frame.url)) return { group: "(runtime JS)", where: `${name || "(anonymous)"} ${frame.url}` };
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
  const src = entry && "originalSource" in entry ? String(entry.originalSource) : "";
  const rel = src.replace(/^.*?(node_modules\/|src\/)/, (_m, p: string) => p).replace(/^src\/src\//, "src/");
  let group = rel || "(bundle)";
  const nm = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(rel);
  if (nm) group = `node_modules/${nm[1]}`;
  const line = entry && "originalLine" in entry ? Number(entry.originalLine) + 1 : frame.lineNumber + 1;
  return { group, where: `${name || "(anonymous)"} ${rel || frame.url}:${line}` };
}

const top = <K extends string>(m: Map<string, number>, total: number, key: K, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => ({ [key]: k, ms: us / 1000, pct: (100 * us) / total }) as { [P in K]: string } & { ms: number; pct: number });

export function breakdown(profile: CpuProfile, sourceMapPath?: string): Breakdown {
  let map: SourceMap | undefined;
  try {
    if (sourceMapPath) map = new SourceMap(JSON.parse(readFileSync(sourceMapPath, "utf8")));
  } catch {
    map = undefined;
  }
  const bundleUrl = (u: string) => /index\.js$/.test(u);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cache = new Map<number, { group: string; where: string }>();
  const info = (id: number) => {
    let v = cache.get(id);
    if (!v) {
      v = groupOf((byId.get(id) as CpuProfile["nodes"][number]).callFrame, map, bundleUrl);
      cache.set(id, v);
    }
    return v;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i];
    total += us;
    const own = info(id);
    self.set(own.group, (self.get(own.group) ?? 0) + us);
    fns.set(own.where, (fns.get(own.where) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const g = info(at).group;
      if (g.startsWith("(")) continue;
      if (!seen.has(g)) {
        seen.add(g);
        inclusive.set(g, (inclusive.get(g) ?? 0) + us);
      }
    }
  }
  return {
    totalMs: total / 1000,
    self: top(self, total, "group", 25),
    inclusive: top(inclusive, total, "group", 25),
    functions: top(fns, total, "fn", 30),
  };
}

export function renderBreakdown(title: string, b: Breakdown): string {
  const rows = (xs: { ms: number; pct: number }[], label: (x: never) => string) =>
    xs.map((x) => `  ${x.pct.toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(7)} ms  ${label(x as never)}`).join("\n");
  return [
    `${title}: ${b.totalMs.toFixed(0)} ms sampled`,
    "self time by source (what the CPU was running):",
    rows(b.self, (x: { group: string }) => x.group),
    "inclusive time by source (a frame of it anywhere on the stack):",
    rows(b.inclusive, (x: { group: string }) => x.group),
    "functions by self time:",
    rows(b.functions, (x: { fn: string }) => x.fn),
  ].join("\n");
}
