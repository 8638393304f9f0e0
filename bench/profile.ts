// `npm run bench -- --profile`: a CPU profile of terapi's isolate (the deploy
// bundle on workerd) under the c=32 chat load, through workerd's inspector, and
// the same for the bare pass-through Worker. Writes bench/profile-*.cpuprofile
// (open in Chrome DevTools) and prints where the time goes, mapped back to
// terapi's source files through the bundle's source map.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { closedLoop, keepAliveAgent, send, type Target } from "./lib/http.ts";
import { startFloor } from "./lib/floor.ts";
import { connectInspector, cpuProfile, heapMiB } from "./lib/inspector.ts";
import { breakdown, renderBreakdown } from "./lib/profile-report.ts";
import { PROXY_BUCKETS, perfBuckets, renderPerf, startPerf, stopPerf } from "./lib/perf-report.ts";
import type { Simulator } from "../scripts/lib/simulator.ts";
import { cpuMs } from "../scripts/lib/procs.ts";
import { startTerapiSide } from "./lib/terapi-side.ts";
import { chatRequest } from "./scenarios/common.ts";

const CONCURRENCY = 32;
const withPerf = process.argv.includes("--profile-perf");

/**
 * Busy samples (not idle) per sample whose leaf is the runtime's `fetch`:
 * counted, not timed, so a loaded machine that stretches every sample's
 * interval changes it little (req/s and CPU per request swing by a third there).
 */
function busyPerFetch(profile: { nodes: { id: number; callFrame: { functionName: string } }[]; samples: number[] }): number {
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  let busy = 0;
  let fetch = 0;
  for (const id of profile.samples) {
    const name = names.get(id);
    if (name === "(idle)") continue;
    busy++;
    if (name === "fetch") fetch++;
  }
  return busy / Math.max(1, fetch);
}

/** One build of terapi to profile: `name` names its profile file (`bench/profile-<name>.cpuprofile`). */
export type ProfiledBuild = { name: string; label: string; srcDir: string; bundleDir: string };

export async function runProfile(opts: {
  root: string;
  /** Profiled one after the other, after the bare Worker (`--ref=<commit>` puts that commit first). */
  builds: ProfiledBuild[];
  sim: Simulator;
  simKey: string;
  seconds: number;
  log: (m: string) => void;
}): Promise<void> {
  const { sim, simKey, log } = opts;
  const floor = await startFloor({ simUrl: sim.url, apiKey: simKey, compatibilityDate: undefined, directSocket: true });
  const stops: (() => Promise<void>)[] = [floor.stop];
  try {
    type Side = { name: string; target: Target; inspector: { port: number; worker: string }; pids: () => number[]; bundleDir?: string };
    const sides: Side[] = [{ name: "bare", target: floor.target, inspector: floor.inspector, pids: floor.pids }];
    for (const b of opts.builds) {
      const { t, target } = await startTerapiSide({ name: b.label, root: b.srcDir, bundleDir: b.bundleDir, simUrl: sim.url, simKey });
      stops.push(t.stop);
      sides.push({
        name: b.name,
        pids: t.pids,
        bundleDir: b.bundleDir,
        target,
        inspector: t.inspector as { port: number; worker: string },
      });
    }
    for (const side of sides) {
      const agent = keepAliveAgent(CONCURRENCY);
      const fire = () => send(agent, side.target, chatRequest(false), { timeoutMs: 30_000 });
      const first = await send(agent, side.target, chatRequest(false), { timeoutMs: 10_000 });
      if (first.status !== 200) throw new Error(`profile: ${side.name} answers ${first.status} ${first.error ?? first.snippet ?? ""}`);
      log(`profile: ${side.name}: warm-up`);
      await closedLoop({ concurrency: CONCURRENCY, durationMs: 2_000, fire });
      // Without the profiler: the workerd process's CPU per request (robust to a loaded machine, unlike req/s).
      // `--profile-perf`: Linux perf over this window too (workerd's native stacks: SQLite, RPC, streams, GC…).
      const perfFile = resolve(tmpdir(), `terapi-perf-${side.name}-${Date.now()}.data`);
      const perf = withPerf ? startPerf(side.pids(), perfFile) : null;
      const cpu0 = cpuMs(side.pids());
      const plain = await closedLoop({ concurrency: CONCURRENCY, durationMs: opts.seconds * 1000, fire });
      const cpuPerRequestUs = ((cpuMs(side.pids()) - cpu0) * 1000) / plain.samples.length;
      if (perf) await stopPerf(perf);
      process.stdout.write(
        `\n${side.name}: ${plain.samples.length} requests in ${opts.seconds} s without the profiler, ${(plain.samples.length / opts.seconds).toFixed(0)} req/s; workerd CPU ${cpuPerRequestUs.toFixed(0)} µs per request\n`,
      );
      if (perf)
        process.stdout.write(
          `${renderPerf(`${side.name}: workerd under the c=${CONCURRENCY} load`, perfBuckets(perfFile, PROXY_BUCKETS), cpuPerRequestUs, { scale: 1, digits: 0, name: "µs/request" })}\nperf data: ${perfFile}\n`,
        );
      log(`profile: ${side.name}: inspector at ${side.inspector.port}`);
      const ins = await connectInspector(side.inspector.port, side.inspector.worker);
      const heapBefore = await heapMiB(ins, true);
      let requests = 0;
      let failed = 0;
      log(`profile: ${side.name}: ${opts.seconds} s at c=${CONCURRENCY} under the profiler`);
      const load = async () => {
        const { samples } = await closedLoop({ concurrency: CONCURRENCY, durationMs: opts.seconds * 1000, fire });
        requests = samples.length;
        failed = samples.filter((s) => s.status !== 200).length;
      };
      // workerd does not answer the Profiler domain for every worker (the bare one, here): then heap only.
      const profile = await cpuProfile(ins, load).catch(async (err: Error) => {
        log(`profile: ${side.name}: no CPU profile (${err.message}); heap only`);
        await load();
        return null;
      });
      const heapAfter = await heapMiB(ins);
      const heapRetained = await heapMiB(ins, true);
      ins.close();
      agent.destroy();
      const heapLine = `heap: ${heapBefore.toFixed(1)} MiB before, ${heapAfter.toFixed(1)} MiB right after, ${heapRetained.toFixed(1)} MiB retained after a GC\n`;
      if (!profile) {
        process.stdout.write(`\n${side.name} (c=${CONCURRENCY}, ${requests} requests, ${failed} non-200): ${heapLine}`);
        continue;
      }
      const file = resolve(opts.root, `bench/profile-${side.name}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      const b = breakdown(profile, side.bundleDir ? resolve(side.bundleDir, "index.js.map") : undefined);
      const busyMs = b.totalMs - (b.self.find((x) => x.group === "(idle)")?.ms ?? 0);
      process.stdout.write(
        `\n${renderBreakdown(`${side.target.name} (c=${CONCURRENCY}, ${requests} requests, ${failed} non-200, ${(requests / opts.seconds).toFixed(0)} req/s under the profiler)`, b)}\n` +
          `busy (not idle): ${busyMs.toFixed(0)} ms = ${((1000 * busyMs) / Math.max(1, requests)).toFixed(1)} µs of the isolate's thread per request\n` +
          `busy samples per sample in the native fetch: ${busyPerFetch(profile).toFixed(2)} (the upstream fetch is the same work on every run: a load-independent measure of the isolate's work per request)\n` +
          heapLine +
          `profile: ${file}\n`,
      );
    }
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}
