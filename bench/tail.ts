#!/usr/bin/env node
// `npx node bench/tail.ts` (Node 22 from the devDependencies): the c=1 tail (issue 13). terapi's deploy bundle on
// workerd (Miniflare, workerd's own socket, as table 1), chat calls one at a
// time; for each build:
//
// 1. without the profiler: p50 / p99 / max and workerd's CPU per request (the
//    whole process: terapi's isolate, its Durable Objects, the queue broker and
//    D1, from /proc), and the CPU per workerd thread (who runs what);
// 2. under V8's CPU profiler (100 µs sampling, timestamps): the requests slower
//    than the run's p99, and what terapi's isolate was doing while each ran
//    (the log flush, the connection object's appendLogs, the index feed and
//    consumer, GC, the request itself, idle), next to the same for all requests.
//
//   npx node bench/tail.ts                         HEAD
//   npx node bench/tail.ts --ref=6828c5f --ref=HEAD   builds interleaved, round by round
//   npx node bench/tail.ts --working-tree --seconds=8 --rounds=3
//   npx node bench/tail.ts --no-profile ...          step 1 only (CPU per request, no profiles)
//   npx node bench/tail.ts --no-profile --concurrency=32 --ref=6828c5f --ref=HEAD   CPU per request at c=32
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { SourceMap } from "node:module";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { closedLoop, keepAliveAgent, send, type Sample } from "./lib/http.ts";
import { connectInspector, connectInspectorTarget, cpuProfile, type CpuProfile, type Inspector } from "./lib/inspector.ts";
import { startSimulator } from "../scripts/lib/simulator.ts";
import { cpuMs, forEachThread, stopAllChildren } from "../scripts/lib/procs.ts";
import { bundle } from "../scripts/lib/terapi.ts";
import { startTerapiSide } from "./lib/terapi-side.ts";
import { chatRequest } from "./scenarios/common.ts";

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const opt = (name: string) => argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const seconds = Number(opt("seconds")[0] ?? 6);
const rounds = Number(opt("rounds")[0] ?? 2);
/** `--concurrency=32`: the same at c=32, where workerd's CPU per request is the steadier figure. */
const concurrency = Number(opt("concurrency")[0] ?? 1);
const refs = opt("ref");
const builds = argv.includes("--working-tree") ? ["(working tree)", ...refs] : refs.length ? refs : ["HEAD"];
/** Miniflare's own isolates in terapi's workerd (their inspector target ids). */
const OTHER_ISOLATES = ["outbound:0", "queues:queue", "queues:queue:terapi-index", "d1:db", "d1:db:entry", "kv:ns", "kv:ns:entry"];
const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-tail-"));
const log = (m: string) => process.stderr.write(`[tail] ${m}\n`);

/** A build's source: the working tree as it is, or a commit exported with `git archive`. */
function sourceOf(ref: string, i: number): string {
  if (ref === "(working tree)") return root;
  const dir = resolve(tmp, `src-${i}`);
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", ref], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  symlinkSync(resolve(root, "node_modules"), resolve(dir, "node_modules"), "dir");
  return dir;
}

/** CPU (ms) of each thread of these processes, by thread name. */
function threadCpu(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  forEachThread(pids, (task, tid) => {
    const stat = readFileSync(`${task}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const key = `${name} (tid ${tid})`;
    out.set(key, (out.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
  });
  return out;
}

/** What a profile node belongs to, from the terapi source files on its stack (innermost first). */
type Activity = "idle" | "GC" | "log flush (isolate)" | "appendLogs (object)" | "index feed" | "index consumer (D1)" | "program" | "request and the rest";
const ACTIVITY_BY_FILE: [RegExp, Activity][] = [
  [/src\/ops-index\/(consumer|write)\.ts/, "index consumer (D1)"],
  [/src\/ops-index\/feed\.ts/, "index feed"],
  [/src\/(durable-objects\/connection|logs\/store|usage\/(ledger|store))\.ts/, "appendLogs (object)"],
  [/src\/logs\/record\.ts/, "log flush (isolate)"],
];

function activities(profile: CpuProfile, mapPath: string): { act: (id: number) => Activity; where: (id: number) => string } {
  let map: SourceMap | undefined;
  try {
    map = new SourceMap(JSON.parse(readFileSync(mapPath, "utf8")));
  } catch {
    map = undefined;
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fileOf = (id: number): string => {
    const f = byId.get(id)?.callFrame;
    if (!f?.url || !/index\.js$/.test(f.url)) return "";
    const e = map?.findEntry(f.lineNumber, f.columnNumber);
    return e && "originalSource" in e ? String(e.originalSource) : "";
  };
  /** A frame as `function src/file.ts:line` (the bundle's position when the source map has none). */
  const where = (id: number): string => {
    const f = byId.get(id)?.callFrame;
    if (!f) return "?";
    const e = f.url && /index\.js$/.test(f.url) ? map?.findEntry(f.lineNumber, f.columnNumber) : undefined;
    const file = e && "originalSource" in e ? String(e.originalSource).replace(/^.*?(node_modules\/|src\/)/, "$1") : f.url.replace(/^.*\//, "");
    const line = e && "originalLine" in e ? Number(e.originalLine) + 1 : f.lineNumber + 1;
    const name = (e && "name" in e && typeof e.name === "string" && e.name) || f.functionName || "(anonymous)";
    return file ? `${name} ${file}:${line}` : name;
  };
  const cache = new Map<number, Activity>();
  const act = (id: number): Activity => {
    const hit = cache.get(id);
    if (hit) return hit;
    const name = byId.get(id)?.callFrame.functionName ?? "";
    let a: Activity = "request and the rest";
    if (name === "(idle)") a = "idle";
    else if (name === "(garbage collector)") a = "GC";
    else if (name === "(program)") a = "program";
    else {
      // The innermost of the background files on the stack decides; appendLogs's own
      // store calls count as the object's even when reached from the flush's RPC.
      outer: for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const file = fileOf(at);
        for (const [re, act] of ACTIVITY_BY_FILE)
          if (re.test(file)) {
            a = act;
            break outer;
          }
      }
    }
    cache.set(id, a);
    return a;
  };
  return { act, where };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const fmt = (m: Map<string, number>, total: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${((100 * v) / Math.max(1, total)).toFixed(1)}%`)
    .join(", ");

async function measure(name: string, bundleDir: string, sim: Awaited<ReturnType<typeof startSimulator>>, simKey: string): Promise<string> {
  const { t, target } = await startTerapiSide({ name, root, bundleDir, simUrl: sim.url, simKey });
  const out: string[] = [];
  try {
    const agent = keepAliveAgent(concurrency);
    const fire = () => send(agent, target, chatRequest(false), { timeoutMs: 30_000 });
    await closedLoop({ concurrency, durationMs: 2_000, fire });
    const pids = t.pids();
    const cpu0 = cpuMs(pids);
    const th0 = threadCpu(pids);
    const plain = await closedLoop({ concurrency, durationMs: seconds * 1000, fire });
    const cpu = cpuMs(pids) - cpu0;
    const th1 = threadCpu(pids);
    const lat = plain.samples.map((s) => s.totalMs);
    const threads = new Map([...th1].map(([k, v]) => [k, v - (th0.get(k) ?? 0)]).filter(([, v]) => (v as number) > 0) as [string, number][]);
    out.push(
      `${name}: ${lat.length} requests at c=${concurrency} in ${seconds} s: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(2)} ms; ` +
        `workerd CPU ${((cpu * 1000) / lat.length).toFixed(0)} µs per request (${pids.length} process(es))`,
      `  CPU by workerd thread: ${fmt(threads, cpu)}`,
    );
    if (argv.includes("--no-profile")) return out.join("\n");
    // Under the profiler, with each request's start and end on the profile's clock.
    const ins = await connectInspector(t.inspector?.port ?? 0, t.inspector?.worker ?? "");
    let samples: Sample[] = [];
    // V8's profile clock is CLOCK_MONOTONIC in µs; so is process.hrtime. performance.now() is offset from it.
    const offsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
    // The other isolates of the same workerd process (Miniflare's queue broker, D1, KV, the outbound
    // fetch worker), profiled over the same load: where the rest of the process's CPU goes.
    const others = (
      await Promise.all(OTHER_ISOLATES.map(async (id) => ({ id, ins: await connectInspectorTarget(t.inspector?.port ?? 0, id).catch(() => null) })))
    ).filter((o): o is { id: string; ins: Inspector } => o.ins !== null);
    // Every profiler is started before the load begins, and stopped after it ends.
    let started = 0;
    let go = () => {};
    const gate = new Promise<void>((r) => (go = r));
    const load = gate.then(async () => {
      samples = (await closedLoop({ concurrency, durationMs: seconds * 1000, fire })).samples;
    });
    const during = async () => {
      if (++started === others.length + 1) go();
      await load;
    };
    const [profile, ...otherProfiles] = await Promise.all([
      cpuProfile(ins, during),
      ...others.map((o) =>
        cpuProfile(o.ins, during).catch(async () => {
          await during();
          return null;
        }),
      ),
    ]);
    ins.close();
    for (const o of others) o.ins.close();
    agent.destroy();
    const busyMs = (p: CpuProfile) => {
      const names = new Map(p.nodes.map((n) => [n.id, n.callFrame.functionName]));
      let us = 0;
      p.samples.forEach((id, i) => {
        // "(program)" is the thread outside this isolate's JS (workerd's C++, or another isolate): not counted.
        const name = names.get(id);
        if (name !== "(idle)" && name !== "(program)") us += Math.min(p.timeDeltas[i] ?? 0, 150);
      });
      return us / 1000;
    };
    const isolates = [{ id: "terapi", p: profile }, ...others.map((o, i) => ({ id: o.id, p: otherProfiles[i] ?? null }))];
    out.push(
      `  JS time per request by isolate (V8 profiler: samples in JS or GC): ${isolates
        .map(({ id, p }) => `${id} ${p ? ((1000 * busyMs(p)) / Math.max(1, samples.length)).toFixed(0) + " µs" : "(no profile)"}`)
        .join(", ")}`,
    );
    const { act, where } = activities(profile, resolve(bundleDir, "index.js.map"));
    // The functions the background work spends its samples in (self time).
    const bgFns = new Map<string, number>();
    let bgN = 0;
    for (const id of profile.samples) {
      const a = act(id);
      if (a === "idle" || a === "program" || a === "request and the rest") continue;
      bgN++;
      const k = `[${a}] ${where(id)}`;
      bgFns.set(k, (bgFns.get(k) ?? 0) + 1);
    }
    // Sample i covers (time[i-1], time[i]]; its activity is samples[i]'s.
    const times: number[] = [];
    let at = profile.startTime;
    for (const d of profile.timeDeltas) times.push((at += d));
    const threshold = pct(
      samples.map((s) => s.totalMs),
      99,
    );
    const slow = samples.filter((s) => s.totalMs >= threshold);
    const all = new Map<string, number>();
    const inSlow = new Map<string, number>();
    const slowWith = new Map<string, number>();
    let allUs = 0;
    let slowUs = 0;
    const windows = slow.map((s) => [s.startedAt * 1000 + offsetUs, s.endedAt * 1000 + offsetUs]);
    const first = samples[0];
    const last = samples.at(-1);
    const covered = first && last ? [first.startedAt * 1000 + offsetUs, last.endedAt * 1000 + offsetUs] : [0, 0];
    const seenPerWindow = windows.map(() => new Set<string>());
    const perWindow = windows.map(() => ({ by: new Map<string, number>() }));
    for (let i = 1; i < profile.samples.length; i++) {
      const t1 = times[i] ?? 0;
      const us = (times[i] ?? 0) - (times[i - 1] ?? 0);
      if (t1 < (covered[0] ?? 0) || t1 > (covered[1] ?? 0)) continue;
      const a = act(profile.samples[i] ?? 0);
      all.set(a, (all.get(a) ?? 0) + us);
      allUs += us;
      windows.forEach(([w0, w1], k) => {
        if (t1 >= (w0 ?? 0) && t1 <= (w1 ?? 0)) {
          inSlow.set(a, (inSlow.get(a) ?? 0) + us);
          slowUs += us;
          seenPerWindow[k]?.add(a);
          const w = perWindow[k];
          if (w) {
            w.by.set(a, (w.by.get(a) ?? 0) + us);
          }
        }
      });
    }
    for (const seen of seenPerWindow) for (const a of seen) slowWith.set(a, (slowWith.get(a) ?? 0) + 1);
    // Pauses: runs of samples not idle, one after the other (the thread busy without a break), and
    // what was on the stack in them. A request waits for the run it arrives in.
    // Measured in samples (× the 100 µs interval), not in time: a sample is taken only while the thread
    // is on a CPU, so a loaded machine that takes the CPU away stretches the time, not the count.
    const bursts: { ms: number; acts: Set<Activity> }[] = [];
    let cur: { n: number; acts: Set<Activity> } | null = null;
    for (let i = 1; i < profile.samples.length; i++) {
      const a = act(profile.samples[i] ?? 0);
      if (a === "idle") {
        if (cur) bursts.push({ ms: cur.n / 10, acts: cur.acts });
        cur = null;
        continue;
      }
      cur ??= { n: 0, acts: new Set() };
      cur.n++;
      cur.acts.add(a);
    }
    const background: Activity[] = ["log flush (isolate)", "appendLogs (object)", "index feed", "index consumer (D1)", "GC"];
    const pauseLine = (label: string, keep: (b: { acts: Set<Activity> }) => boolean) => {
      const xs = bursts.filter((b) => b.ms >= 1 && keep(b)).map((b) => b.ms);
      return `${label}: ${xs.length} (p50 ${pct(xs, 50).toFixed(1)}, p90 ${pct(xs, 90).toFixed(1)}, max ${Math.max(0, ...xs).toFixed(1)} ms)`;
    };
    out.push(
      `  busy runs of the thread (samples × 0.1 ms) of 1 ms or more, by what they held: ${[
        pauseLine("all", () => true),
        ...background.map((a) => pauseLine(a, (b) => b.acts.has(a))),
        pauseLine("none of these", (b) => !background.some((a) => b.acts.has(a))),
      ].join("; ")}`,
    );
    out.push(
      `  background work, ${(((bgN / 10) * 1000) / Math.max(1, samples.length)).toFixed(0)} µs (samples × 0.1 ms) per request; its functions by self samples:`,
      ...[...bgFns]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([k, n]) => `    ${((100 * n) / Math.max(1, bgN)).toFixed(1).padStart(5)}% ${k}`),
    );
    const plat = samples.map((s) => s.totalMs);
    out.push(
      `  under the profiler: ${samples.length} requests, p50 ${pct(plat, 50).toFixed(2)} ms, p99 ${threshold.toFixed(2)} ms; profile clock vs the client's: starts ${((profile.startTime - (covered[0] ?? 0)) / 1000).toFixed(1)} ms before the first request`,
      `  the isolate over the whole run: ${fmt(all, allUs)}`,
      `  the isolate during the ${slow.length} requests >= p99: ${fmt(inSlow, slowUs)}`,
      `  of those ${slow.length} requests, how many saw each activity: ${[...slowWith]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
      ...slow.map((s, k) => {
        const w = perWindow[k];
        const parts = w ? [...w.by].sort((a, b) => b[1] - a[1]).map(([a, us]) => `${a} ${(us / 1000).toFixed(1)}`) : [];
        return `    ${s.totalMs.toFixed(1)} ms: ${parts.join(", ")} ms`;
      }),
    );
  } finally {
    await t.stop();
  }
  return out.join("\n");
}

try {
  log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" / ")}`,
  );
  const dirs = builds.map((ref, i) => {
    const src = sourceOf(ref, i);
    return { ref, src };
  });
  const bundles: { ref: string; dir: string }[] = [];
  for (const [i, d] of dirs.entries()) {
    log(`bundling ${d.ref}`);
    bundles.push({ ref: d.ref, dir: (await bundle(d.src, resolve(tmp, `b-${i}`))).dir });
  }
  const sim = await startSimulator(root, log);
  const simKey = await sim.createKey({ requests: { limit: 1e9, window_ms: 60_000 }, tokens: { limit: 1e12, window_ms: 60_000 } });
  for (let r = 0; r < rounds; r++)
    for (const b of r % 2 ? [...bundles].reverse() : bundles) {
      const load = os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(" / ");
      process.stdout.write(`\n[round ${r + 1}, load ${load}] ${await measure(b.ref, b.dir, sim, simKey)}\n`);
    }
  await sim.stop();
} finally {
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
