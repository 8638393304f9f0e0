#!/usr/bin/env node
// `npm run bench`: terapi against calling the OpenAI simulator directly, in one
// bounded run. See bench/README.md for what it measures and how.
//
//   npm run bench                    full run (≈ 3½ minutes at most; hard stop at 230 s)
//   npm run bench -- --quick         fewer requests (≈ 1 minute)
//   npm run bench -- --no-wrangler-dev   skip the second table
//   npm run bench -- --only=a,c      some scenarios only
//   npm run bench -- --working-tree   measure uncommitted changes too (default: HEAD, exported to a temp dir)
//   npm run bench -- --no-floor      skip the bare pass-through Worker column
//   npm run bench -- --entry-worker   Miniflare table through Miniflare's entry worker (default: workerd's own socket, as in production)
//   npm run bench -- --smoke         harness check without proxy/connections: GET /health vs GET /v1/models
//   npm run bench -- --soak          minutes of mixed load (16 chat calls + a /records reader), counting non-2xx answers
//   npm run bench -- --soak --soak-seconds=60   a shorter soak
//   npm run bench -- --micro         each step of a proxied call timed alone (Node, no workerd)
//   npm run bench -- --micro --workerd   the same kind of steps timed inside workerd (its Headers, Response, timers)
//   npm run bench -- --profile       CPU profile of terapi and the bare Worker under the c=32 load (--profile-seconds=N; TERAPI_USAGE=off to compare)
//   npm run bench -- --cpu-ab --ref=main   workerd CPU per proxied request: builds interleaved with the bare Worker (bench/cpu-ab.ts)
//   npm run bench -- --usage-ab      a, b and c with a second terapi, usage counting off, as one more side (issue 16's budget: on − off)
//   npm run bench -- --pairs=N       table 1's a and c on N fresh process pairs (default 6, 3 with --quick), judged on the median per-pair difference
//   npm run bench -- --aa            A/A control: a and c (and the cold start) with a copy of terapi where the bare Worker / usage-off terapi would be
//   npm run bench -- --need          the floor of the required work (bench/lib/need.ts: bare Worker + the model and usage reads) in terapi's place: a, b, c
//   npm run bench -- --block=1       a and c alternate the sides request by request (default: blocks of 100 / 30 requests per side)
//   npm run bench -- --pin=1         pin every pair's workerd processes to CPU 1 (taskset; all sides alike)
//   npm run bench -- --streams       streamed answers' time to first byte, A/B by commit and usage on/off, interleaved request by request (bench/streams.ts)
//   npm run bench -- --scale         10,000 connections: creates, pages, /logs, /dashboard, events/s and lag (bench/scale.ts)
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type RequestSpec, type Target } from "./lib/http.ts";
import { jsonCall } from "../scripts/lib/json-call.ts";
import { type SetOptions, type SetRole, sideName, type Started, startSet, startSide } from "./lib/pairs.ts";
import { killAllChildrenSync, rssSampler, sleep, stopAllChildren, totalRss, waitFor } from "../scripts/lib/procs.ts";
import { measureColdStart } from "./lib/cold-start.ts";
import { needReadErrors, type NeedReads, settledNeedReads } from "./lib/need.ts";
import { connectInspector, heapMiB, heapSampler, type Inspector } from "./lib/inspector.ts";
import { type Columns, renderTable, versus } from "./lib/report.ts";
import { type Simulator, startSimulator } from "../scripts/lib/simulator.ts";
import { prepareSource, type Source } from "./lib/source.ts";
import { bundle, createConnection, createIntegration, newSecrets, type RunningTerapi, startMiniflare, startWranglerDev } from "../scripts/lib/terapi.ts";
import type { BenchContext, Mode, Row, Scenario, Side } from "./lib/types.ts";
import { chatRequest } from "./scenarios/common.ts";
import { scenarios as allScenarios } from "./scenarios/index.ts";
import { DEFAULT_SOAK_SECONDS, soakScenario } from "./scenarios/soak.ts";
import { runProfile } from "./profile.ts";
import { runMicro } from "./micro.ts";
import { exportCommit, runCpuAb, variantSource } from "./cpu-ab.ts";

/** A memory row (MiB, terapi next to the bare Worker, no direct figure) of one scenario. */
const memoryRow =
  (scenario: string) =>
  (metric: string, v: number, fl: number | undefined, target?: Row["target"], note?: string): Row => ({
    scenario,
    metric,
    unit: "MiB",
    direct: null,
    terapi: v,
    floor: fl,
    compare: "none",
    target,
    note,
  });

/** `+1.2 MiB`, `−4.1 MiB`. */
const signedMiB = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(1)} MiB`;

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
// `--need`: the floor of the required work (bench/lib/need.ts, a plain-JS Worker: no terapi API, bindings or
// bundle) in terapi's place, paired with the bare Worker as terapi is. Only the scenarios that need nothing
// of terapi's API run; anything else is refused before a process starts.
const need = argv.includes("--need");
const NEED_SCENARIOS = ["a", "b", "b2", "c"];
if (need) {
  const asked =
    argv
      .find((a) => a.startsWith("--only="))
      ?.slice("--only=".length)
      .split(",") ?? [];
  const refused = [
    ...asked.filter((id) => !NEED_SCENARIOS.includes(id)),
    ...["usage-ab", "soak", "smoke", "no-floor", "scale", "streams", "cpu-ab", "profile", "micro"].filter((f) => argv.includes(`--${f}`)).map((f) => `--${f}`),
  ];
  if (refused.length) {
    process.stderr.write(
      `--need cannot run ${refused.join(", ")}: it puts a plain-JS Worker (bench/lib/need.ts) in terapi's place, paired with the bare Worker, ` +
        `so it runs only ${NEED_SCENARIOS.join(", ")} (--only=…; default a,b,c; --aa, --pairs, --quick, --block, --pin apply). ` +
        "d, models, tokens and e need terapi's API; memory, the bundle, the cold start and the wrangler dev table are terapi's own.\n",
    );
    process.exit(2);
  }
}
// `--scale`: the many-connections run (bench/scale.ts), separate from the default one.
if (argv.includes("--scale")) {
  const { runScale } = await import("./scale.ts");
  process.exit(await runScale());
}
// `--streams`: the focused time-to-first-byte A/B of streamed answers (bench/streams.ts).
if (argv.includes("--streams")) {
  const { runStreams } = await import("./streams.ts");
  process.exit(await runStreams(root, argv));
}
const flag = (name: string) => argv.includes(`--${name}`);
/** `--name=value` or `--name value`. */
const option = (name: string) => {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return argv[i].includes("=") ? argv[i].slice(name.length + 3) : argv[i + 1];
};
const soak = flag("soak");
const soakSeconds = Number(option("soak-seconds") ?? DEFAULT_SOAK_SECONDS);
if (soak && !(soakSeconds > 0)) throw new Error("--soak-seconds must be a positive number");
// The soak is its own run: one scenario, on the Miniflare table only.
const scenarios = soak ? [soakScenario(soakSeconds)] : allScenarios;
// `--usage-ab`: the Miniflare table's a, b and c (unless --only says otherwise), with a second terapi
// whose usage counting is off measured as one more interleaved side: issue 16's budget, on − off, in one run.
const usageAb = flag("usage-ab");
// `--aa`: the A/A control. Every reference side (the bare Worker; with --usage-ab the usage-off terapi too) is a
// copy of terapi, same build and usage setting: what the paired method reports then is its own noise.
const aa = flag("aa");
const only =
  argv
    .find((a) => a.startsWith("--only="))
    ?.slice("--only=".length)
    .split(",") ?? (aa ? ["a", "c"] : usageAb || need ? ["a", "b", "c"] : undefined);
const quick = flag("quick");
/** Table 1's paired scenarios (a, c) run on this many fresh process pairs; 1 = on the run's one set of processes. */
const PAIRS = Number(option("pairs") ?? (quick ? 3 : 6));
if (!(Number.isInteger(PAIRS) && PAIRS >= 1)) throw new Error("--pairs must be a positive integer");
/** Rounds of the cold start (each: terapi and the bare Worker with bindings, one fresh start each). */
const COLD_ROUNDS = Number(option("cold-rounds") ?? (quick ? 3 : 7));
if (!(Number.isInteger(COLD_ROUNDS) && COLD_ROUNDS >= 1)) throw new Error("--cold-rounds must be a positive integer");
const pinCpus = option("pin");
const blockOption = option("block");
const block = blockOption === undefined ? undefined : Number(blockOption);
if (block !== undefined && !(Number.isInteger(block) && block >= 1)) throw new Error("--block must be a positive integer");
const smoke = flag("smoke");
const withWranglerDev = !flag("no-wrangler-dev") && !soak && !usageAb && !aa && !need;
const workingTree = flag("working-tree");
// Production has no Miniflare entry worker in front of terapi: by default table 1 (terapi and the bare
// Worker alike) is served from workerd's own socket. `--entry-worker` puts Miniflare's entry worker back.
const directSocket = !flag("entry-worker");
/** The deploy bundle's size target (issue 13). */
const BUNDLE_TARGET_KIB = 500;
/**
 * terapi's own part of a cold start (its first proxied response after a fresh
 * workerd process, minus the bare Worker's with the same bindings) at 37cf0a7,
 * before issue 13: the median of 5 on the shared, loaded 2-core machine.
 */
const COLD_START_BEFORE_MS = 123;
/** The isolate's heap after the load (after a GC) may exceed its idle heap by at most this. */
const HEAP_GROWTH_BOUND_MIB = 16;
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? (soak ? soakSeconds * 1000 + 60_000 : flag("cpu-ab") ? 600_000 : 230_000));
/** Don't start the wrangler dev table with less than this left. */
const WRANGLER_DEV_MIN_MS = quick ? 30_000 : 45_000;

const t0 = performance.now();
const deadline = t0 + DEADLINE_MS;
const log = (m: string) => process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

type ModeResult = {
  mode: Mode;
  title: string;
  printed: boolean;
  origin: string;
  startup_ms: number;
  rows: Row[];
  skipped: string[];
  details: Record<string, unknown>;
};

/** The integration and connection every terapi instance of a run is set up with. */
const INTEGRATION = "openai-bench";
const CONNECTION_ID = "bench-tenant";

const startedAt = new Date();
const modeResults: ModeResult[] = [];
const errors: string[] = [];
let sim: Simulator | undefined;
let terapi: RunningTerapi | undefined;
let floor: Started | undefined;
/** `--usage-ab`: the second terapi, usage counting off. */
let terapiOff: Started | undefined;
/** The process set table 1's paired scenarios run on at the moment. */
let pairSet: { stop: () => Promise<void> } | undefined;
const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-bench-"));
let finishing = false;
let source: Source | undefined;

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

/** `--aa`: the reference columns hold copies of terapi (with `--need`, of the need-floor Worker in its place). */
const columns: Columns | undefined = aa
  ? { floor: sideName("floor", { aa, need }), floorVs: "terapi vs copy", off: sideName("off", { aa, need }), offVs: "on vs on (copy)" }
  : undefined;

function printTable(m: ModeResult): void {
  if (m.printed) return;
  m.printed = true;
  process.stdout.write(`\n${renderTable(m.title, m.rows, m.skipped, columns)}\n`);
}

async function finish(code: number): Promise<never> {
  if (finishing) process.exit(code);
  finishing = true;
  await Promise.race([
    (async () => {
      await terapi?.stop().catch(() => {});
      await terapiOff?.stop().catch(() => {});
      await floor?.stop().catch(() => {});
      await pairSet?.stop().catch(() => {});
      await sim?.stop().catch(() => {});
      await stopAllChildren();
    })(),
    sleep(8_000),
  ]);
  for (const m of modeResults) printTable(m);
  const targets = modeResults.flatMap((m) =>
    m.rows.filter((r) => r.target).map((r) => ({ mode: m.mode, scenario: r.scenario, metric: r.metric, target: r.target?.text, pass: r.target?.pass })),
  );
  const json = {
    started_at: startedAt.toISOString(),
    duration_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
    source: source?.label ?? null,
    git: { commit: git(["rev-parse", "--short", "HEAD"]), working_tree_dirty: git(["status", "--porcelain", "--", "src", "wrangler.toml"]) !== "" },
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
    options: {
      quick,
      smoke,
      soak: soak ? { seconds: soakSeconds } : null,
      only: only ?? null,
      wrangler_dev: withWranglerDev,
      working_tree: workingTree,
      direct_socket: directSocket,
      usage_ab: usageAb,
      aa,
      need,
      pairs: PAIRS,
      cold_rounds: COLD_ROUNDS,
      pin: pinCpus ?? null,
      block: block ?? null,
    },
    modes: modeResults.map(({ printed: _printed, ...m }) => ({ ...m, rows: m.rows.map((r) => ({ ...r, vs_direct: versus(r) })) })),
    targets,
    errors,
    exit_code: code,
  };
  const out = resolve(root, "bench/results.json");
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  const passed = targets.filter((t) => t.pass).length;
  process.stdout.write(
    `\ntargets: ${passed}/${targets.length} PASS${
      targets.length > passed
        ? ` (${targets
            .filter((t) => !t.pass)
            .map((t) => `${t.mode} ${t.scenario} ${t.metric}`)
            .join("; ")} missed)`
        : ""
    }\n`,
  );
  if (errors.length) process.stdout.write(`\nERRORS (exit ${code}):\n${errors.map((e) => `- ${e}`).join("\n")}\n`);
  process.stdout.write(`results: ${out} (${json.duration_s} s)\n`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}

process.on("exit", killAllChildrenSync);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    errors.push(`interrupted by ${sig}`);
    void finish(130);
  });
}
setTimeout(() => {
  errors.push(`deadline of ${DEADLINE_MS / 1000} s reached; the figures so far are in the table`);
  void finish(2);
}, DEADLINE_MS + 5_000).unref();

async function runMode(mode: Mode, src: Source, s: Simulator, simKey: string, bundleDir: string): Promise<void> {
  const secrets = newSecrets();
  const tStart = performance.now();
  log(`${mode}: starting ${need ? "the need-floor Worker in terapi's place" : "terapi"}`);
  terapi = need
    ? await startNeedSide(src.dir, s.url, simKey)
    : mode === "miniflare"
      ? await startMiniflare({ root: src.dir, bundleDir, simUrl: s.url, secrets, directSocket, ...(usageAb ? { usage: "on" } : {}) })
      : await startWranglerDev({ root: src.dir, tmp, simUrl: s.url, secrets });
  const t = terapi;
  if (!need) await waitFor(`${mode} to serve /health`, async () => (await fetch(`${t.origin}/health`)).ok, 30_000);
  const startupMs = performance.now() - tStart;
  log(`${mode}: ${need ? "need floor" : "terapi"} at ${t.origin} (started in ${(startupMs / 1000).toFixed(1)} s)`);

  const label = need
    ? `--need: the "terapi" column is NOT terapi but the floor of the required work (bench/lib/need.ts: the bare Worker plus only the reads issues 10 and 16 require: the model from the request before sending, the usage from every answer; none of terapi's code), paired with ${aa ? "a copy of itself" : "the bare Worker as terapi is"} (${directSocket ? "workerd's own socket" : "Miniflare's entry worker"}; upstream fetches pass Miniflare's outbound worker, on both)`
    : mode === "miniflare"
      ? `terapi on workerd via Miniflare (the deploy bundle, ${directSocket ? "served from workerd's own socket, no Miniflare entry worker" : "through Miniflare's entry worker (--entry-worker)"}; upstream fetches pass Miniflare's outbound worker, bare Worker too)`
      : "terapi under `wrangler dev` (its proxy worker adds a hop; smaller sizes)";
  const title = `${label} vs the simulator directly, 127.0.0.1, ${os.cpus().length} cores, ${src.label}${quick ? ", --quick" : ""}${smoke ? ", --smoke" : ""}${
    usageAb ? ", --usage-ab (terapi: usage counting on; a second terapi with it off)" : ""
  }${aa ? `, --aa (A/A control: every reference side is a copy of ${need ? "the need-floor Worker" : "terapi, same build and usage setting"})` : ""}${
    pinCpus ? `, pairs' workerd pinned to CPU ${pinCpus}` : ""
  }${block ? `, a and c in blocks of ${block} per side` : ""}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
  const result: ModeResult = { mode, title, printed: false, origin: t.origin, startup_ms: Math.round(startupMs), rows: [], skipped: [], details: {} };
  modeResults.push(result);

  const [integration, connectionId] = [INTEGRATION, CONNECTION_ID];
  let request: (stream: boolean) => RequestSpec = chatRequest;
  let direct: Target = { name: "direct", base: s.url, headers: { authorization: `Bearer ${simKey}` } };
  const proxyTarget = (name: string, origin: string, secretKey: string): Target => ({
    name,
    base: `${origin}/proxy`,
    headers: { authorization: `Bearer ${secretKey}`, "connection-id": connectionId, "provider-config-key": integration },
  });
  // The need floor is called as the bare Worker is: no terapi headers.
  let proxied = need ? { name: sideName("terapi", { aa, need }), base: `${t.origin}/proxy`, headers: {} } : proxyTarget("terapi", t.origin, secrets.secretKey);
  if (need) await probe(mode, proxied);
  else if (smoke) {
    request = () => ({ method: "GET", path: "" });
    direct = { ...direct, base: `${s.url}/v1/models` };
    proxied = { ...proxied, base: `${t.origin}/health` };
  } else {
    await setUp(mode, t.origin, secrets.secretKey, proxied, simKey);
    log(`${mode}: integration ${integration} and connection ${connectionId} created; proxy answers`);
  }

  // The reference sides (bare Worker, usage-off terapi; with --aa copies of terapi), started as the pairs' are.
  const setOptions: SetOptions = {
    root: src.dir,
    bundleDir,
    simUrl: s.url,
    simKey,
    directSocket,
    compatibilityDate: t.compatibilityDate,
    usageAb,
    aa,
    need,
    pin: pinCpus,
  };
  let usageOff: Target | undefined;
  if (usageAb && mode === "miniflare" && !smoke && !soak) {
    // Same bundle, same set-up, its own connection on the same simulator key; only TERAPI_USAGE differs.
    terapiOff = await startSide("off", setOptions);
    usageOff = terapiOff.target;
    await probe(`${mode} (${usageOff.name})`, usageOff);
    log(`${mode}: ${usageOff.name} at ${usageOff.base}`);
  }

  if (mode === "miniflare" && !smoke && !soak && !flag("no-floor")) {
    floor = await startSide("floor", setOptions);
    log(`${mode}: ${floor.target.name}${aa ? "" : " (the workerd hop alone)"} at ${floor.target.base}`);
  }

  await sleep(500);
  const f = floor;
  // The isolates' own heap (V8's used size), through workerd's inspector: terapi's next to the bare Worker's.
  const inspectors: { terapi?: Inspector; floor?: Inspector } = {};
  if (t.inspector) inspectors.terapi = await connectInspector(t.inspector.port, t.inspector.worker).catch(() => undefined);
  if (f?.inspector) inspectors.floor = await connectInspector(f.inspector.port, f.inspector.worker).catch(() => undefined);
  const heapIdle = {
    terapi: inspectors.terapi && (await heapMiB(inspectors.terapi, true).catch(() => undefined)),
    floor: inspectors.floor && (await heapMiB(inspectors.floor, true).catch(() => undefined)),
  };
  const heapSamplers = { terapi: inspectors.terapi && heapSampler(inspectors.terapi), floor: inspectors.floor && heapSampler(inspectors.floor) };
  const idle = totalRss(t.pids());
  const floorIdle = f ? totalRss(f.pids()).mib : undefined;
  const sampler = rssSampler(t.pids);
  const floorSampler = f ? rssSampler(f.pids) : undefined;
  const ctx: BenchContext = {
    mode,
    // wrangler dev is the secondary table: the smaller sizes keep the whole run under 3 minutes.
    quick: quick || mode === "wrangler-dev",
    direct,
    terapi: proxied,
    floor: floor?.target,
    usageOff,
    aa,
    pairs: 1,
    block,
    // --need: b reports each side's workerd CPU per request, a figure the machine's other work moves far less than req/s.
    ...(need ? { cpu: { terapi: t.pids, ...(f ? { floor: f.pids } : {}) } } : {}),
    terapiOrigin: t.origin,
    request,
    secretKey: secrets.secretKey,
    integration,
    connectionId,
    simKey,
    sim: s,
    createConnection: need
      ? () => Promise.reject(new Error("--need: the need-floor Worker has no terapi API"))
      : (id, apiKey) => createConnection(t.origin, secrets.secretKey, integration, id, apiKey),
    deadline,
    log,
  };

  const selected = scenarios.filter((sc) => sc.modes.includes(mode) && (!only || only.includes(sc.id)) && (!smoke || ["a", "b"].includes(sc.id)));
  // Table 1's small differences (a, c) on PAIRS fresh process sets, when there is a reference side to pair with.
  const pairRoles: SetRole[] = ["terapi", ...(f ? (["floor"] as const) : []), ...(usageOff ? (["off"] as const) : [])];
  const paired = mode === "miniflare" && !smoke && !soak && PAIRS > 1 && pairRoles.length > 1 ? selected.filter((sc) => sc.paired) : [];
  for (const sc of selected) {
    if (paired.includes(sc)) {
      // The whole group runs at the first of its scenarios, each pair measuring every one of them.
      // What runs after the pairs needs time of its own: the other scenarios, then (miniflare) the cold start.
      if (sc === paired[0]) await runPairs(result, ctx, paired, pairRoles, setOptions, selected.length > paired.length ? 30_000 : 10_000);
      continue;
    }
    const left = deadline - performance.now();
    if (left < sc.budgetMs(quick)) {
      result.skipped.push(`${sc.title}: not enough time left (${(left / 1000).toFixed(0)} s)`);
      continue;
    }
    log(`${mode}: ${sc.title}`);
    await s.clearLog(simKey);
    const tSc = performance.now();
    try {
      const r = await sc.run(ctx);
      result.rows.push(...r.rows);
      if (r.skipped) result.skipped.push(`${sc.title}: ${r.skipped}`);
      if (r.details) result.details[sc.id] = r.details;
      errors.push(...r.errors.map((e) => `${mode}: ${e}`));
    } catch (err) {
      errors.push(`${mode}: ${sc.title} threw: ${(err as Error).stack ?? String(err)}`.slice(0, 1500));
    }
    log(`${mode}: ${sc.title} done in ${((performance.now() - tSc) / 1000).toFixed(1)} s`);
  }
  const unpaired = selected.filter((sc) => !paired.includes(sc));
  if (need && unpaired.length) await checkNeedReads(result, "the run's first processes", [proxied, ...(aa && f ? [f.target] : [])], unpaired);

  sampler.stop();
  floorSampler?.stop();
  heapSamplers.terapi?.stop();
  heapSamplers.floor?.stop();
  const heapAfter = {
    terapi: inspectors.terapi && (await heapMiB(inspectors.terapi, true).catch(() => undefined)),
    floor: inspectors.floor && (await heapMiB(inspectors.floor, true).catch(() => undefined)),
  };
  inspectors.terapi?.close();
  inspectors.floor?.close();
  if (need) result.skipped.push("memory, bundle and cold start: terapi's own (--need measures a plain-JS Worker in its place)");
  if (!need && heapIdle.terapi !== undefined && heapAfter.terapi !== undefined) {
    const heap = memoryRow("memory (isolate JS heap)");
    const grew = heapAfter.terapi - heapIdle.terapi;
    result.rows.push(
      heap("idle, after set-up (after a GC)", heapIdle.terapi, heapIdle.floor),
      heap("peak during the load", Math.max(heapSamplers.terapi?.peak() ?? 0, heapAfter.terapi), heapSamplers.floor?.peak()),
      heap(
        "after the load (after a GC)",
        heapAfter.terapi,
        heapAfter.floor,
        { text: `≤ idle + ${HEAP_GROWTH_BOUND_MIB} MiB`, pass: grew <= HEAP_GROWTH_BOUND_MIB },
        `${signedMiB(grew)} vs idle`,
      ),
    );
    result.details.heap = {
      terapi: { idle_mib: heapIdle.terapi, peak_mib: heapSamplers.terapi?.peak(), after_mib: heapAfter.terapi },
      bare_workerd_proxy: { idle_mib: heapIdle.floor, peak_mib: heapSamplers.floor?.peak(), after_mib: heapAfter.floor },
    };
  }
  const after = totalRss(t.pids());
  const floorAfter = f ? totalRss(f.pids()).mib : undefined;
  const peak = Math.max(sampler.peak(), after.mib);
  const floorPeak = floorSampler && floorAfter !== undefined ? Math.max(floorSampler.peak(), floorAfter) : undefined;
  const mem = memoryRow("memory (workerd RSS)");
  const procs = idle.processes === 1 ? "1 process" : `${idle.processes} processes`;
  if (!need) {
    result.rows.push(
      mem("idle, after set-up", idle.mib, floorIdle, undefined, procs),
      mem("peak during the load", peak, floorPeak, undefined, `${signedMiB(peak - idle.mib)} vs idle`),
      mem("after the load", after.mib, floorAfter, undefined, `${signedMiB(after.mib - idle.mib)} vs idle`),
    );
    result.details.memory = {
      terapi: { idle_mib: idle.mib, peak_mib: peak, after_mib: after.mib, workerd_processes: idle.processes },
      bare_workerd_proxy: f ? { idle_mib: floorIdle, peak_mib: floorPeak, after_mib: floorAfter } : null,
    };
  }

  log(`${mode}: stopping terapi`);
  await t.stop();
  terapi = undefined;
  await floor?.stop();
  floor = undefined;
  await terapiOff?.stop();
  terapiOff = undefined;

  if (mode === "miniflare" && !smoke && !soak && !need) {
    const js = readFileSync(resolve(bundleDir, "index.js"));
    const kib = js.length / 1024;
    result.rows.push({
      scenario: "bundle (wrangler deploy --dry-run)",
      metric: "index.js",
      unit: "KiB",
      direct: null,
      terapi: kib,
      compare: "none",
      target: { text: `≤ ${BUNDLE_TARGET_KIB} KiB`, pass: kib <= BUNDLE_TARGET_KIB },
      note: `${(gzipSync(js).length / 1024).toFixed(0)} KiB gzipped`,
    });
    if (usageAb) result.skipped.push("cold start: not measured with --usage-ab");
    else if (deadline - performance.now() > 20_000) {
      log(`${mode}: cold starts${aa ? " (A/A: the bare Worker with bindings against itself)" : ""}`);
      const c = await measureColdStart({ root: src.dir, bundleDir, tmp, simUrl: s.url, simKey, rounds: COLD_ROUNDS, aa, deadline: deadline - 5_000 });
      const own = c.ownMs;
      result.rows.push({
        scenario: "cold start (fresh workerd → first proxied response, median)",
        metric: aa ? "A/A: the bare Worker with bindings vs itself" : "vs the bare Worker with terapi's bindings",
        unit: "ms",
        direct: null,
        terapi: c.terapiMs,
        floor: c.bareWithBindingsMs,
        compare: "added",
        target: {
          text: `${aa ? "A/A, " : ""}median of rounds: terapi's part ≤ ${COLD_START_BEFORE_MS / 2} ms (half of 37cf0a7's ${COLD_START_BEFORE_MS})`,
          pass: own <= COLD_START_BEFORE_MS / 2,
        },
        pairs: c.paired,
        note: `bare Worker without bindings: ${c.bareMs.toFixed(0)} ms`,
      });
      result.details.cold_start = c;
    } else result.skipped.push("cold start: not enough time left");
  }
  printTable(result);
}

/**
 * `--need`: the need-floor Worker (bench/lib/need.ts) as the run's first "terapi", started as the pairs' are,
 * with wrangler.toml's compatibility date (the bare Worker's in the default run: terapi's).
 */
async function startNeedSide(dir: string, simUrl: string, simKey: string): Promise<RunningTerapi> {
  const { experimental_readRawConfig } = await import("wrangler");
  const date = experimental_readRawConfig({ config: resolve(dir, "wrangler.toml") }).rawConfig.compatibility_date;
  const options = { root: dir, bundleDir: "", simUrl, simKey, directSocket, compatibilityDate: date, usageAb: false, aa, need: true };
  const n = await startSide("terapi", options);
  return {
    mode: "miniflare",
    origin: new URL(n.target.base).origin,
    pids: n.pids,
    inspector: n.inspector,
    compatibilityDate: date,
    tail: () => "",
    stop: n.stop,
  };
}

/**
 * `--need`: what each need-floor side read once `ran` was measured on it, in results.json (`need_reads`), and an
 * error where a read the run relies on did not happen (a figure of a Worker that skipped its reads proves nothing).
 */
async function checkNeedReads(result: ModeResult, where: string, targets: Target[], ran: Scenario[]): Promise<void> {
  const sent = { json: ran.some((sc) => sc.id !== "c"), streams: ran.some((sc) => sc.id === "c") };
  const all = (result.details.need_reads ??= []) as ({ where: string; side: string } & NeedReads)[];
  for (const target of targets) {
    try {
      const r = await settledNeedReads(target.base);
      all.push({ where, side: target.name, ...r });
      errors.push(...needReadErrors(`miniflare: ${where}, ${target.name}`, r, sent));
    } catch (err) {
      errors.push(`miniflare: ${where}, ${target.name}: reads not checked: ${(err as Error).message}`);
    }
  }
}

/** The integration and the connection through terapi's own API, then one proxied call to check the wiring. */
async function setUp(what: string, origin: string, secretKey: string, proxied: Target, simKey: string): Promise<void> {
  await createIntegration(origin, secretKey, INTEGRATION);
  await createConnection(origin, secretKey, INTEGRATION, CONNECTION_ID, simKey);
  await probe(what, proxied);
}

/** One proxied call through `target`, to check the wiring before anything is measured. */
async function probe(what: string, target: Target): Promise<void> {
  const res = await fetch(`${target.base}/v1/models`, { headers: target.headers });
  const body = await res.text();
  if (!res.ok) throw new Error(`${what}: GET /v1/models → ${res.status}: ${body.slice(0, 300)}`);
}

/**
 * Table 1's paired scenarios on PAIRS fresh process sets (terapi, the bare Worker, usage-off terapi: as this
 * run has them), one set after the other, each measuring every scenario of the group interleaved as before;
 * then each scenario's report over all of them (figures pooled, targets on the median per-pair difference).
 */
async function runPairs(result: ModeResult, ctx: BenchContext, group: Scenario[], roles: SetRole[], setOptions: SetOptions, reserveMs: number): Promise<void> {
  const perScenario = new Map<string, Side[][]>(group.map((sc) => [sc.id, []]));
  const title = group.map((sc) => sc.id).join(" and ");
  let lastMs = 0;
  try {
    for (let k = 0; k < PAIRS; k++) {
      const left = deadline - performance.now();
      // A pair takes about as long as the last one; stop early rather than overrun (at least 2 pairs are needed to pair).
      if (k >= 2 && left < 1.5 * lastMs + reserveMs) {
        result.skipped.push(`${title}: pairs ${k + 1}–${PAIRS} not run, not enough time left (${(left / 1000).toFixed(0)} s)`);
        break;
      }
      const tPair = performance.now();
      const set = await startSet(k, roles, setOptions);
      pairSet = set;
      try {
        const side = (role: SetRole) => set.sides.get(role)?.target;
        const terapiTarget = side("terapi");
        if (!terapiTarget) throw new Error("a pair without terapi");
        await probe(`pair ${k + 1}`, terapiTarget);
        const pctx: BenchContext = { ...ctx, terapi: terapiTarget, floor: side("floor"), usageOff: side("off"), pairs: PAIRS };
        for (const sc of group) {
          await ctx.sim.clearLog(ctx.simKey);
          perScenario.get(sc.id)?.push(await (sc.paired?.measure(pctx) ?? Promise.resolve([])));
        }
        if (need) await checkNeedReads(result, `pair ${k + 1}`, [terapiTarget, ...(aa ? [side("floor")].filter((x) => x !== undefined) : [])], group);
      } finally {
        await set.stop();
        pairSet = undefined;
      }
      lastMs = performance.now() - tPair;
      log(`miniflare: pair ${k + 1}/${PAIRS} (started ${set.order.join(", ")}) measured ${title} in ${(lastMs / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    errors.push(`miniflare: pairs for ${title} threw: ${(err as Error).stack ?? String(err)}`.slice(0, 1500));
  }
  for (const sc of group) {
    const pairs = perScenario.get(sc.id) ?? [];
    if (pairs.length === 0 || !sc.paired) {
      result.skipped.push(`${sc.title}: no pair measured`);
      continue;
    }
    const r = sc.paired.report(pairs);
    result.rows.push(...r.rows);
    if (r.skipped) result.skipped.push(`${sc.title}: ${r.skipped}`);
    if (r.details) result.details[sc.id] = r.details;
    errors.push(...r.errors.map((e) => `miniflare: ${e}`));
  }
}

async function main(): Promise<void> {
  if (flag("micro")) {
    if (flag("workerd")) await (await import("./micro-workerd.ts")).runMicroWorkerd(root);
    else await runMicro(root);
    return;
  }
  log(`terapi benchmark${quick ? " (quick)" : ""}${smoke ? " (smoke)" : ""}; temp dir ${tmp}`);
  const src = prepareSource(root, tmp, workingTree);
  source = src;
  log(`measuring ${src.label}`);
  // --need runs no terapi: no bundle to build.
  const [s, b] = await Promise.all([startSimulator(src.dir, log), need ? undefined : bundle(src.dir, tmp)]);
  sim = s;
  log(`simulator at ${s.url}${b ? `; bundle built in ${(b.ms / 1000).toFixed(1)} s` : ""}`);
  const bundleDir = b?.dir ?? "";
  const simKey = await s.createKey({ requests: { limit: 1_000_000_000, window_ms: 60_000 }, tokens: { limit: 1_000_000_000_000, window_ms: 60_000 } });
  log(`simulator key ${simKey.slice(0, 12)}…`);
  // The direct side must work before anything is compared with it.
  await jsonCall("GET", `${s.url}/v1/models`, { authorization: `Bearer ${simKey}` });

  if (flag("cpu-ab")) {
    const ref = option("ref");
    const variants = argv.filter((a) => a.startsWith("--variant=")).map((a) => variantSource(a.slice("--variant=".length)));
    await runCpuAb({
      root,
      tmp,
      sources: [...(ref ? [exportCommit(root, ref, resolve(tmp, "ref"))] : []), src, ...variants],
      sim: s,
      simKey,
      rounds: Number(option("cpu-rounds") ?? 6),
      seconds: Number(option("cpu-seconds") ?? 3),
      concurrency: Number(option("cpu-concurrency") ?? 32),
      log,
    });
    return;
  }
  if (flag("profile")) {
    // `--ref=<commit>`: that commit is profiled too, before the code under test, in the same run.
    const ref = option("ref");
    const builds = [{ name: "terapi", label: `terapi, ${src.label}`, srcDir: src.dir, bundleDir }];
    if (ref) {
      const r = exportCommit(root, ref, resolve(tmp, "ref"));
      mkdirSync(resolve(tmp, "ref-build"), { recursive: true });
      const rb = await bundle(r.dir, resolve(tmp, "ref-build"));
      builds.unshift({ name: "ref", label: `terapi, ${r.label}`, srcDir: r.dir, bundleDir: rb.dir });
    }
    await runProfile({ root, builds, sim: s, simKey, seconds: Number(option("profile-seconds") ?? 5), log });
    return;
  }
  await runMode("miniflare", src, s, simKey, bundleDir);
  if (withWranglerDev) {
    const left = deadline - performance.now();
    if (left >= WRANGLER_DEV_MIN_MS) await runMode("wrangler-dev", src, s, simKey, bundleDir);
    else process.stdout.write(`\n(skipped) wrangler dev table: ${(left / 1000).toFixed(0)} s left of the ${DEADLINE_MS / 1000} s budget\n`);
  }
}

main().then(
  () => finish(errors.length ? 1 : 0),
  (err: unknown) => {
    errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
    const tail = terapi?.tail();
    if (tail) errors.push(`terapi runtime output:\n${tail}`);
    return finish(1);
  },
);
