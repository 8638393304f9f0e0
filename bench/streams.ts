// `npm run bench -- --streams`: a focused A/B of a streamed answer's time to
// first byte (issue 13 c, issue 16 "SSE time to first byte unchanged").
//
// Several workerd instances side by side (one Miniflare each, the deploy
// bundle on workerd's own socket, as in `npm run bench`): terapi at one or more
// commits with usage counting on, optionally the last one again with it off,
// the bare pass-through Worker, and the simulator directly. Requests go one at
// a time (c=1) and alternate side by side, request by request, in an order
// where every side comes right after every other equally often (`balancedOrder`),
// so that whatever else loads the machine hits every side alike. A round is
// `--per-round` requests per side; each side's p50 is taken per round,
// and every comparison is the per-round difference of two sides' p50s: its
// median over the rounds, with the smallest and largest difference as the
// spread. workerd's CPU time per stream (the scheduler's count from /proc,
// each side has its own process) is reported next to it: it moves little with the machine's load.
//
//   npm run bench -- --streams                       HEAD: usage on, usage off, bare, direct
//   npm run bench -- --streams --refs=old=main,new=worktree  main and the working tree (usage on), + the working tree with usage off
//   npm run bench -- --streams --rounds=12 --per-round=60 --no-off
//   npm run bench -- --streams --json --no-off --refs=$(npx node bench/ladder.ts --out=/tmp/ladder | tr ' ' '\n' | sed 's/^--variant=//' | awk -F/ '{printf "%s%s=%s", (NR > 1 ? "," : ""), $NF, $0}')
//        the ablation ladder's rungs (trees as they are, a ref that is a path), paired request by request
//   npm run bench -- --streams --json ...            the same A/B for scenario a's small JSON answer (c=1 latency:
//                                                    the TTFB column is then the time to the answer's last byte)
//   --usage=off                                      every ref with usage counting off (with --no-off)
//   --profile [--profile-requests=N]                 + a V8 CPU profile of N requests (150) per terapi side
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { keepAliveAgent, type Sample, send, type Target } from "./lib/http.ts";
import { startFloor } from "./lib/floor.ts";
import { connectInspector, cpuProfile } from "./lib/inspector.ts";
import { breakdown, renderBreakdown } from "./lib/profile-report.ts";
import { prepareSource, type Source, sourceAt } from "./lib/source.ts";
import { percentile } from "./lib/stats.ts";
import { balancedOrder, chatRequest } from "./scenarios/common.ts";
import { killAllChildrenSync, stopAllChildren, threadCpuNs } from "../scripts/lib/procs.ts";
import { startSimulator } from "../scripts/lib/simulator.ts";
import { bundle } from "../scripts/lib/terapi.ts";
import { startTerapiSide } from "./lib/terapi-side.ts";

const CHUNK_DELAY_MS = 2;

type Side = { name: string; target: Target; pids: () => number[]; profile?: { port: number; worker: string; map: string } };
type Round = { ttfb: number; headers: number; gap: number; cpuUs: number | null };

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const p50 = (samples: Sample[], f: (s: Sample) => number) => median(samples.map(f));

export async function runStreams(root: string, argv: string[]): Promise<number> {
  const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  // `name=ref` names a side (e.g. `pipe=<sha>` for a `git stash create` commit); `worktree` is the files as they are.
  const named = (option("refs") ?? "HEAD")
    .split(",")
    .filter(Boolean)
    .map((r) => (r.includes("=") ? { name: r.slice(0, r.indexOf("=")), ref: r.slice(r.indexOf("=") + 1) } : { name: r, ref: r }));
  const refs = named.map((r) => r.name);
  const rounds = Number(option("rounds") ?? 10);
  const perRound = Number(option("per-round") ?? 50);
  const withOff = !argv.includes("--no-off");
  const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-streams-"));
  const t0 = performance.now();
  const log = (m: string) => process.stderr.write(`[streams +${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
  process.on("exit", killAllChildrenSync);
  const stops: (() => Promise<void>)[] = [];
  try {
    // A ref that is a path (`rung=/tmp/ladder/3-no-body-read`) is a tree as it is, e.g. a bench/ladder.ts rung.
    const sources: Source[] = named.map(({ ref }, i) =>
      ref === "worktree"
        ? prepareSource(root, tmp, true)
        : ref.startsWith("/")
          ? { dir: ref, label: ref, commit: "tree" }
          : sourceAt(root, ref, resolve(tmp, `src-${i}`)),
    );
    const sim = await startSimulator(sources[0]!.dir, log);
    stops.push(sim.stop);
    const simKey = await sim.createKey({ requests: { limit: 1_000_000_000, window_ms: 60_000 }, tokens: { limit: 1_000_000_000_000, window_ms: 60_000 } });
    const bundles = await Promise.all(sources.map((s, i) => bundle(s.dir, resolve(tmp, `b-${i}`))));
    const sides: Side[] = [];
    let compatibilityDate: string | undefined;
    const terapiSide = async (name: string, src: Source, bundleDir: string, usage: "on" | "off") => {
      const { t, target } = await startTerapiSide({ name, root: src.dir, bundleDir, simUrl: sim.url, simKey, usage });
      stops.push(t.stop);
      compatibilityDate ??= t.compatibilityDate;
      sides.push({ name, target, pids: t.pids, profile: t.inspector && { ...t.inspector, map: resolve(bundleDir, "index.js.map") } });
      log(`${name}: ${t.origin}`);
    };
    // `--usage=off`: every ref with usage counting off (the foreground alone).
    const usage = option("usage") === "off" ? "off" : "on";
    for (const [i, src] of sources.entries()) await terapiSide(`${refs[i]} (${src.commit}), usage ${usage}`, src, bundles[i]!.dir, usage);
    const last = sources.length - 1;
    if (withOff) await terapiSide(`${refs[last]} (${sources[last]!.commit}), usage off`, sources[last]!, bundles[last]!.dir, "off");
    const floor = await startFloor({ simUrl: sim.url, apiKey: simKey, compatibilityDate, directSocket: true });
    stops.push(floor.stop);
    sides.push({ name: "bare Worker", target: floor.target, pids: floor.pids });
    sides.push({ name: "direct", target: { name: "direct", base: sim.url, headers: { authorization: `Bearer ${simKey}` } }, pids: () => [] });

    // `--json`: scenario a's small JSON answer (c=1 latency) instead of the stream; its "TTFB" is the time to the last byte.
    const json = argv.includes("--json");
    const spec = json ? chatRequest(false) : { ...chatRequest(true), headers: { "x-sim-chunk-delay-ms": String(CHUNK_DELAY_MS) } };
    const agents = sides.map(() => keepAliveAgent(1));
    const fire = async (i: number): Promise<Sample> => {
      const s = await send(agents[i]!, sides[i]!.target, spec, { keepTail: true, timeoutMs: 30_000 });
      if (json) {
        if (s.status !== 200) throw new Error(`${sides[i]!.name}: ${s.status} ${s.error ?? s.snippet ?? ""}`);
        return { ...s, firstByteMs: s.totalMs };
      }
      if (s.status !== 200 || !s.snippet?.includes("[DONE]")) throw new Error(`${sides[i]!.name}: ${s.status} ${s.error ?? s.snippet ?? ""}`);
      return s;
    };
    log(`warm-up: 30 streams per side`);
    for (let k = 0; k < 30; k++) for (let i = 0; i < sides.length; i++) await fire(i);

    const loadAtStart = os.loadavg();
    log(`${rounds} rounds × ${perRound} streams per side, alternating request by request; load average ${loadAtStart.map((l) => l.toFixed(2)).join(" ")}`);
    const perSide: Round[][] = sides.map(() => []);
    // Every side right after every other equally often (a rotation put the first terapi side always right after a
    // direct call: ≈ +0.2 ms TTFB and +200–300 µs CPU per stream for whichever ref came first; bench/README.md, h-sse2).
    const order = balancedOrder(sides.length, rounds * perRound);
    let at = 0;
    for (let r = 0; r < rounds; r++) {
      const samples: Sample[][] = sides.map(() => []);
      const cpu0 = sides.map((s) => threadCpuNs(s.pids()));
      for (let k = 0; k < perRound * sides.length; k++) {
        const i = order[at++ % order.length]!;
        samples[i]!.push(await fire(i));
      }
      sides.forEach((s, i) => {
        const pids = s.pids();
        perSide[i]!.push({
          ttfb: p50(samples[i]!, (x) => x.firstByteMs),
          headers: p50(samples[i]!, (x) => x.headersMs),
          gap: p50(samples[i]!, (x) => x.firstByteMs - x.headersMs),
          cpuUs: pids.length ? (threadCpuNs(pids) - cpu0[i]!) / 1000 / samples[i]!.length : null,
        });
      });
      log(`round ${r + 1}/${rounds}: TTFB p50 ${sides.map((s, i) => `${s.name} ${perSide[i]![r]!.ttfb.toFixed(3)}`).join(", ")}`);
    }
    const loadAtEnd = os.loadavg();
    // `--profile`: where each terapi side's isolate spends a stream, from V8's samples (counts, not times, move little with load).
    const profiled: string[] = [];
    if (argv.includes("--profile")) {
      for (const [i, side] of sides.entries()) {
        if (!side.profile) continue;
        const ins = await connectInspector(side.profile.port, side.profile.worker);
        const n = Number(option("profile-requests") ?? 150);
        const profile = await cpuProfile(ins, async () => {
          for (let k = 0; k < n; k++) await fire(i);
        });
        ins.close();
        writeFileSync(resolve(root, `bench/profile-streams-${i}.cpuprofile`), JSON.stringify(profile));
        const b = breakdown(profile, side.profile.map);
        const idle = b.self.find((x) => x.group === "(idle)")?.ms ?? 0;
        profiled.push(
          `${renderBreakdown(`${side.name}: ${n} requests under the profiler`, b)}\nbusy (not idle): ${(((b.totalMs - idle) * 1000) / n).toFixed(0)} µs of the isolate's thread per request`,
        );
      }
    }
    for (const a of agents) a.destroy();

    const fmt = (n: number, d = 3) => (Number.isFinite(n) ? n.toFixed(d) : "–");
    const signed = (n: number, d = 3) => `${n >= 0 ? "+" : "−"}${fmt(Math.abs(n), d)}`;
    const stat = (i: number, f: (r: Round) => number | null) => {
      const xs = perSide[i]!.map(f).filter((x): x is number => x !== null);
      return xs.length ? median(xs) : Number.NaN;
    };
    const diff = (a: number, b: number, f: (r: Round) => number | null) => {
      const ds = perSide[a]!.map((r, k) => {
        const x = f(r);
        const y = f(perSide[b]![k]!);
        return x === null || y === null ? null : x - y;
      }).filter((x): x is number => x !== null);
      return ds.length ? { median: median(ds), min: Math.min(...ds), max: Math.max(...ds), above0: ds.filter((d) => d > 0).length, n: ds.length } : null;
    };
    const bare = sides.findIndex((s) => s.name === "bare Worker");
    const off = withOff ? sides.findIndex((s) => s.name.endsWith("usage off")) : -1;
    const pairs: [number, number][] = [];
    for (let i = 0; i < refs.length; i++) pairs.push([i, bare]);
    if (off >= 0) pairs.push([off, bare], [last, off]);
    for (let i = 1; i < refs.length; i++) pairs.push([i, 0]);

    const lines = [
      `${json ? "Small JSON A/B: chat, no stream (TTFB = time to the last byte)" : `Streams A/B: chat SSE (chunks ${CHUNK_DELAY_MS} ms apart)`}, c=1, ${rounds} rounds × ${perRound} streams per side, alternating request by request;`,
      `${os.cpus().length} cores, load average ${loadAtStart.map((l) => l.toFixed(2)).join(" ")} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(" ")} at the end`,
      "",
      "| side | TTFB p50 | headers p50 | headers → first byte p50 | workerd CPU per stream |",
      "| --- | --- | --- | --- | --- |",
      ...sides.map(
        (s, i) =>
          `| ${s.name} | ${fmt(stat(i, (r) => r.ttfb))} ms | ${fmt(stat(i, (r) => r.headers))} ms | ${fmt(stat(i, (r) => r.gap))} ms | ${
            s.pids().length
              ? `${fmt(
                  stat(i, (r) => r.cpuUs),
                  0,
                )} µs`
              : "–"
          } |`,
      ),
      "",
      "Per-round differences of the p50s: median [smallest, largest] (rounds where the first side was slower / rounds):",
      "",
      "| comparison | TTFB p50 | headers p50 | headers → first byte p50 | workerd CPU per stream |",
      "| --- | --- | --- | --- | --- |",
      ...pairs.map(([a, b]) => {
        const cell = (f: (r: Round) => number | null, d: number, unit: string) => {
          const x = diff(a, b, f);
          return x ? `${signed(x.median, d)} ${unit} [${signed(x.min, d)}, ${signed(x.max, d)}] (${x.above0}/${x.n})` : "–";
        };
        return `| ${sides[a]!.name} − ${sides[b]!.name} | ${cell((r) => r.ttfb, 3, "ms")} | ${cell((r) => r.headers, 3, "ms")} | ${cell((r) => r.gap, 3, "ms")} | ${cell((r) => r.cpuUs, 0, "µs")} |`;
      }),
    ];
    process.stdout.write(`\n${[...profiled, lines.join("\n")].join("\n\n")}\n`);
    const out = resolve(root, "bench/streams-results.json");
    writeFileSync(
      out,
      `${JSON.stringify({ started_at: new Date(Date.now() - (performance.now() - t0)).toISOString(), load: { start: loadAtStart, end: loadAtEnd }, rounds, perRound, sides: sides.map((s, i) => ({ name: s.name, rounds: perSide[i] })) }, null, 2)}\n`,
    );
    process.stdout.write(`results: ${out}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await stopAllChildren();
    rmSync(tmp, { recursive: true, force: true });
  }
}
