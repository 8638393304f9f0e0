// `npm run bench -- --cpu-ab`: workerd CPU time per proxied request, several
// builds of terapi and the bare pass-through Worker side by side in one run,
// interleaved. CPU per request (from /proc/<pid>/stat, utime + stime of each
// workerd process) moves far less than req/s or latency when other work shares
// the machine, and interleaving the builds block by block (the order rotating
// every round) spreads whatever the machine does over every side alike.
//
//   npm run bench -- --cpu-ab --ref=main                  main vs HEAD (and the bare Worker)
//   npm run bench -- --cpu-ab --ref=main --working-tree   main vs the files as they are
//   npm run bench -- --cpu-ab --variant=/tmp/scratch-a --variant=/tmp/scratch-b
//        more builds: each a terapi tree (e.g. a copy with one step switched off), bundled as it is
//   --cpu-rounds=N (6), --cpu-seconds=S (3 per block), --cpu-concurrency=C (32)
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import os from "node:os";
import { basename, resolve } from "node:path";
import { closedLoop, keepAliveAgent, send, type Target } from "./lib/http.ts";
import { startFloor } from "./lib/floor.ts";
import type { Source } from "./lib/source.ts";
import type { Simulator } from "../scripts/lib/simulator.ts";
import { cpuMs } from "../scripts/lib/procs.ts";
import { bundle } from "../scripts/lib/terapi.ts";
import { startTerapiSide } from "./lib/terapi-side.ts";
import { chatRequest } from "./scenarios/common.ts";
import { percentile } from "./lib/stats.ts";

/** A commit exported with `git archive` into `dir` (node_modules linked), as the default run does with HEAD. */
export function exportCommit(root: string, ref: string, dir: string): Source {
  const commit = execFileSync("git", ["rev-parse", "--short", ref], { cwd: root, encoding: "utf8" }).trim();
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", commit], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  symlinkSync(resolve(root, "node_modules"), resolve(dir, "node_modules"), "dir");
  return { dir, label: ref === commit ? commit : `${ref} (${commit})`, commit };
}

/** `ms`: each answered request's time to its last byte, every round pooled (p50/p99 printed: the c=1 figures with `--cpu-concurrency=1`). */
type Side = { name: string; target: Target; pids: () => number[]; cpuUs: number[]; reqs: number[]; failed: number; ms: number[] };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runCpuAb(opts: {
  root: string;
  tmp: string;
  /** The builds to compare, in order (the first is the baseline of the "vs" column). */
  sources: Source[];
  sim: Simulator;
  simKey: string;
  rounds: number;
  seconds: number;
  concurrency: number;
  log: (m: string) => void;
}): Promise<void> {
  const { sim, simKey, log } = opts;
  const stops: (() => Promise<void>)[] = [];
  try {
    const sides: Side[] = [];
    const floor = await startFloor({ simUrl: sim.url, apiKey: simKey, compatibilityDate: undefined, directSocket: true });
    stops.push(floor.stop);
    sides.push({ name: "bare Worker", target: floor.target, pids: floor.pids, cpuUs: [], reqs: [], failed: 0, ms: [] });
    for (const [i, src] of opts.sources.entries()) {
      const tmp = resolve(opts.tmp, `build-${i}`);
      mkdirSync(tmp, { recursive: true });
      const b = await bundle(src.dir, tmp);
      log(`cpu-ab: ${src.label} bundled in ${(b.ms / 1000).toFixed(1)} s`);
      const { t, target } = await startTerapiSide({ name: src.label, root: src.dir, bundleDir: b.dir, simUrl: sim.url, simKey });
      stops.push(t.stop);
      sides.push({
        name: src.label,
        pids: t.pids,
        target,
        cpuUs: [],
        reqs: [],
        failed: 0,
        ms: [],
      });
    }
    const agents = new Map(sides.map((s) => [s, keepAliveAgent(opts.concurrency)]));
    const fire = (s: Side) => () => send(agents.get(s)!, s.target, chatRequest(false), { timeoutMs: 30_000 });
    for (const s of sides) {
      const first = await fire(s)();
      if (first.status !== 200) throw new Error(`cpu-ab: ${s.name} answers ${first.status} ${first.error ?? first.snippet ?? ""}`);
      await closedLoop({ concurrency: opts.concurrency, durationMs: 1_500, fire: fire(s) });
    }
    const load0 = os.loadavg();
    for (let r = 0; r < opts.rounds; r++) {
      log(`cpu-ab: round ${r + 1}/${opts.rounds}`);
      for (let k = 0; k < sides.length; k++) {
        const s = sides[(k + r) % sides.length]!;
        const cpu0 = cpuMs(s.pids());
        const { samples } = await closedLoop({ concurrency: opts.concurrency, durationMs: opts.seconds * 1000, fire: fire(s) });
        const cpu = cpuMs(s.pids()) - cpu0;
        s.cpuUs.push((cpu * 1000) / samples.length);
        s.reqs.push(samples.length / opts.seconds);
        s.failed += samples.filter((x) => x.status !== 200).length;
        for (const x of samples) if (x.status === 200) s.ms.push(x.totalMs);
      }
    }
    for (const a of agents.values()) a.destroy();
    const load1 = os.loadavg();
    const bare = median(sides[0]!.cpuUs);
    const base = median(sides[1]!.cpuUs) - bare;
    // Each round's blocks ran minutes apart at most: the per-round difference cancels the machine's drift.
    const paired = (s: Side) => median(s.cpuUs.map((x, r) => x - sides[1]!.cpuUs[r]!));
    const lines = [
      `workerd CPU per proxied request, c=${opts.concurrency}, ${opts.rounds} interleaved rounds × ${opts.seconds} s per side, load average ${load0.map((l) => l.toFixed(2)).join(" ")} → ${load1
        .map((l) => l.toFixed(2))
        .join(" ")}`,
      "",
      "| side | CPU µs/request, median (each round) | over the bare Worker | vs the first build | same round vs the first build, median | req/s median | p50 / p99 ms (over the bare Worker) | non-200 |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
      ...sides.map((s, i) => {
        const m = median(s.cpuUs);
        const over = m - bare;
        return `| ${s.name} | ${m.toFixed(0)} (${s.cpuUs.map((x) => x.toFixed(0)).join(", ")}) | ${i === 0 ? "—" : `+${over.toFixed(0)}`} | ${
          i < 2 ? "—" : `${over - base >= 0 ? "+" : "−"}${Math.abs(over - base).toFixed(0)} µs (${((100 * (over - base)) / base).toFixed(0)}% of its own cost)`
        } | ${i < 2 ? "—" : `${paired(s) >= 0 ? "+" : "−"}${Math.abs(paired(s)).toFixed(0)} µs`} | ${median(s.reqs).toFixed(0)} | ${latency(s, sides[0]!)} | ${s.failed} |`;
      }),
    ];
    process.stdout.write(`\n${lines.join("\n")}\n`);
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}

/** p50 / p99 of a side's requests, and each over the bare Worker's (`bare`) when it is not the bare Worker. */
function latency(s: Side, bare: Side): string {
  const ps = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return [percentile(sorted, 50), percentile(sorted, 99)] as const;
  };
  const [p50, p99] = ps(s.ms);
  if (s === bare) return `${p50.toFixed(2)} / ${p99.toFixed(2)}`;
  const [b50, b99] = ps(bare.ms);
  const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
  return `${p50.toFixed(2)} / ${p99.toFixed(2)} (${signed(p50 - b50)} / ${signed(p99 - b99)})`;
}

/** `--variant=<dir>`: a terapi tree as it is (a scratch copy), labelled by its directory's name. */
export const variantSource = (dir: string): Source => ({ dir: resolve(dir), label: basename(resolve(dir)), commit: "" });
