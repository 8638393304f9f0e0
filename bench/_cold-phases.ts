// `npx node bench/_cold-phases.ts [bundle dirs…] [--rounds=N]`: terapi's own part of a cold start, split on workerd
// itself, by figures the machine's load moves little: workerd's CPU time (every thread's, from
// /proc/<pid>/task/*/schedstat, in ns) and V8 CPU profiles of the isolate through workerd's inspector.
// Per bundle, per round, three fresh workerd processes on persisted storage (the connection already stored):
//  - "bare": the bare pass-through given terapi's bindings (as bench/lib/cold-start.ts's);
//  - "kv" and "kv+aes": the bare Worker that first reads the connection's KV value from terapi's store
//    (and, "kv+aes", imports the AES key and decrypts it as terapi does, in a few lines of plain code):
//    what the KV read and the crypto cost a first call, apart from terapi's own code;
//  - "lazy": the same bare Worker whose first request imports terapi's bundle and hands it the call: its
//    start is the bare one plus whatever workerd does with a module it has not evaluated yet, and its first
//    call's profile holds the bundle's evaluation (top-level code) and terapi's first call;
//  - "terapi": the bundle itself: its start holds the bundle's load, compile and evaluation.
// Printed: medians and spreads of startup CPU, first and second call CPU, and (`--profile`) the first call's
// profile by source (every side profiled alike: the CPU figures then include the profiler's own).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { connectInspector, cpuProfile, type CpuProfile } from "./lib/inspector.ts";
import { breakdown } from "./lib/profile-report.ts";
import { syncsSettled } from "./scenarios/rate-limit.ts";
import { bareFetchHandler, EMPTY_DURABLE_OBJECTS } from "./lib/cold-start.ts";
import { startSimulator } from "../scripts/lib/simulator.ts";
import { stopAllChildren, threadCpuNs } from "../scripts/lib/procs.ts";
import { bundle, createConnection, createIntegration, newSecrets, startMiniflare, type TerapiSecrets } from "../scripts/lib/terapi.ts";

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const rounds = Number(argv.find((a) => a.startsWith("--rounds="))?.slice("--rounds=".length) ?? 5);
// The profiler costs CPU itself: with --profile every side is profiled alike (the CPU figures then include it).
const profiling = argv.includes("--profile");
// `--sides=terapi,bare`: only these sides (A/B runs of builds); the figures that need a missing side are not printed.
const only = argv
  .find((a) => a.startsWith("--sides="))
  ?.slice("--sides=".length)
  .split(",");
const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-cold-phases-"));

/** CPU time (ms, ns precision) every live thread of these processes has used. */
const cpuMs = (pids: number[]) => threadCpuNs(pids) / 1e6;

/** The bare pass-through; `read`: it first reads the connection's secret from KV ("kv"), and decrypts it ("kv+aes"). */
const bareScript = (apiKey: string, read: "none" | "kv" | "kv+aes" = "none") => `${EMPTY_DURABLE_OBJECTS}
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
async function secret(env) {
  const stored = await env.SECRETS.get("conn:openai-cold:cold-tenant");
  if (stored === null) throw new Error("no stored connection");
  if (${JSON.stringify(read)} === "kv") return;
  const sealed = JSON.parse(stored);
  const raw = env.TERAPI_ENCRYPTION_KEY.slice(env.TERAPI_ENCRYPTION_KEY.indexOf(":") + 1);
  const key = await crypto.subtle.importKey("raw", b64(raw), { name: "AES-GCM" }, false, ["decrypt"]);
  const aad = new TextEncoder().encode("terapi/connection/v1/openai-cold/cold-tenant");
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: b64(sealed.iv), additionalData: aad }, key, b64(sealed.ct));
  if (!JSON.parse(new TextDecoder().decode(pt)).credentials.apiKey) throw new Error("no key");
}
${bareFetchHandler(apiKey, read === "none" ? "" : "await secret(env);")}`;

/**
 * terapi's bundle evaluated on the first request: its code wrapped in a function (workerd does not load a module
 * only imported dynamically), its imports of DurableObject bound to the wrapper's, its exports returned. One line
 * is added in front, so that profile frames map to the bundle's source map one line up.
 */
function bundleAsFunctionBody(bundleJs: string): string {
  const body = bundleJs
    .replace(/import\{DurableObject as (\w+)\}from"cloudflare:workers";?/g, (m, name: string) => `var ${name}=DO_;`.padEnd(m.length))
    .replace(/export\{[^}]*\b(\w+) as default\b[^}]*\};?\s*(\/\/# sourceMappingURL=.*)?\s*$/, "return $1;}");
  if (/^\s*(import|export)\b/m.test(body) || !body.endsWith("}")) throw new Error("lazy variant: the bundle's imports/exports are not the expected ones");
  return body;
}

function lazyScript(bundleJs: string): string {
  return (
    `${EMPTY_DURABLE_OBJECTS.replace(/\n/g, " ")} const DO_ = DurableObject; let terapi; function load() {\n${bundleAsFunctionBody(bundleJs)}\n` +
    `export default { fetch(request, env, ctx) { terapi ??= load(); return terapi.fetch(request, env, ctx); } };\n`
  );
}

/**
 * "parse": the bare Worker whose first request calls a function holding the bundle that returns before
 * running any of it: V8 compiles the function then (a full parse of the bundle's top level, the rest
 * pre-parsed), so its first call less the bare one is the bundle's compile; lazy less parse is its evaluation
 * (and terapi's first call).
 */
function parseScript(bundleJs: string, apiKey: string): string {
  const bare = bareScript(apiKey)
    .replace(EMPTY_DURABLE_OBJECTS, "")
    .replace("async fetch(request, env) {", "async fetch(request, env) {\n    parsed ??= load();");
  return (
    `${EMPTY_DURABLE_OBJECTS.replace(/\n/g, " ")} const DO_ = DurableObject; let parsed; function load() { if (parsed === undefined) return 1;\n` +
    `${bundleAsFunctionBody(bundleJs)}\n${bare}\n`
  );
}

const CHAT = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });

const SIDES = ["bare", "kv", "kv+aes", "parse", "lazy", "terapi"] as const;
type Side = (typeof SIDES)[number];
type Sample = { startWallMs: number; startCpuMs: number; firstCpuMs: number; secondCpuMs: number; first?: CpuProfile; firstWallMs: number };

async function one(dir: string, persistTo: string, secrets: TerapiSecrets, simUrl: string, headers: Record<string, string>, profile: boolean): Promise<Sample> {
  const t0 = performance.now();
  const mf = await startMiniflare({ root, bundleDir: dir, simUrl, secrets, directSocket: true, persistTo, migrate: false });
  try {
    const startWallMs = performance.now() - t0;
    const pids = mf.pids();
    const startCpuMs = cpuMs(pids);
    const call = async () => {
      const res = await fetch(`${mf.origin}/proxy/v1/chat/completions`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: CHAT,
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${dir}: proxied call answered ${res.status} ${body.slice(0, 300)}\n${mf.tail()}`);
    };
    const ins = profile && mf.inspector ? await connectInspector(mf.inspector.port, mf.inspector.worker) : undefined;
    const c0 = cpuMs(pids);
    const w0 = performance.now();
    let first: CpuProfile | undefined;
    if (ins) first = await cpuProfile(ins, call, 100);
    else await call();
    const firstWallMs = performance.now() - w0;
    const c1 = cpuMs(pids);
    await call();
    const c2 = cpuMs(pids);
    ins?.close();
    return { startWallMs, startCpuMs, firstCpuMs: c1 - c0, secondCpuMs: c2 - c1, first, firstWallMs };
  } finally {
    await mf.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const spread = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;

try {
  const dirs = argv.filter((a) => !a.startsWith("--"));
  if (dirs.length === 0) dirs.push((await bundle(root, tmp)).dir);
  const sim = await startSimulator(root, () => {});
  const simKey = await sim.createKey({ requests: { limit: 1e9, window_ms: 60_000 }, tokens: { limit: 1e12, window_ms: 60_000 } });
  const secrets = newSecrets();
  const headers = { authorization: `Bearer ${secrets.secretKey}`, "connection-id": "cold-tenant", "provider-config-key": "openai-cold" };
  const sides = new Map<string, Map<Side, { dir: string; persist: string; samples: Sample[]; map?: string; lineOffset?: number }>>();
  for (const [i, dir] of dirs.entries()) {
    const work = resolve(tmp, `b${i}`);
    const bareDir = resolve(work, "bare");
    const lazyDir = resolve(work, "lazy");
    mkdirSync(bareDir, { recursive: true });
    mkdirSync(lazyDir, { recursive: true });
    writeFileSync(resolve(bareDir, "index.js"), bareScript(simKey));
    mkdirSync(resolve(work, "parse"), { recursive: true });
    writeFileSync(resolve(work, "parse", "index.js"), parseScript(readFileSync(resolve(dir, "index.js"), "utf8"), simKey));
    for (const read of ["kv", "kv+aes"] as const) {
      mkdirSync(resolve(work, read), { recursive: true });
      writeFileSync(resolve(work, read, "index.js"), bareScript(simKey, read));
    }
    writeFileSync(resolve(lazyDir, "index.js"), lazyScript(readFileSync(resolve(dir, "index.js"), "utf8")));
    // One store, set up by the bundle itself, for terapi and its lazy twin; the bare Worker's own (persisted alike).
    const persist = resolve(work, "store");
    const setup = await startMiniflare({ root, bundleDir: dir, simUrl: sim.url, secrets, directSocket: true, persistTo: persist });
    try {
      await createIntegration(setup.origin, secrets.secretKey, "openai-cold");
      await createConnection(setup.origin, secrets.secretKey, "openai-cold", "cold-tenant", simKey);
      // Its first sync runs done here: left due, they would run at a measured start (bench/lib/cold-start.ts).
      await syncsSettled(setup.origin, secrets.secretKey, "openai-cold", "cold-tenant", performance.now() + 30_000);
    } finally {
      await setup.stop();
    }
    const map = resolve(dir, "index.js.map");
    sides.set(
      dir,
      new Map([
        ["bare", { dir: bareDir, persist: resolve(work, "bare-store"), samples: [] }],
        ["kv", { dir: resolve(work, "kv"), persist, samples: [] }],
        ["kv+aes", { dir: resolve(work, "kv+aes"), persist, samples: [] }],
        ["parse", { dir: resolve(work, "parse"), persist: resolve(work, "bare-store"), samples: [] }],
        ["lazy", { dir: lazyDir, persist, samples: [], map, lineOffset: 1 }],
        ["terapi", { dir, persist, samples: [], map }],
      ]),
    );
  }
  // Interleaved: every side of every bundle once per round, the order reversed every other round.
  const order = [...sides.values()].flatMap((m) => [...m].filter(([side]) => !only || only.includes(side)).map(([, s]) => s));
  for (let r = 0; r < rounds; r++)
    for (const s of r % 2 ? [...order].reverse() : order)
      s.samples.push(await one(s.dir, s.persist, secrets, sim.url, s.map === undefined ? {} : headers, profiling));
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" / ");
  for (const [dir, m] of sides) {
    console.log(`\n${dir}: ${rounds} rounds, load ${load} at the end. ms, median (min–max)`);
    const get = (side: Side) => m.get(side)?.samples ?? [];
    for (const side of SIDES) {
      const xs = get(side);
      if (xs.length === 0) continue;
      console.log(
        `  ${side.padEnd(6)} start wall ${spread(xs.map((x) => x.startWallMs))}, start CPU ${spread(xs.map((x) => x.startCpuMs))}, ` +
          `first call CPU ${spread(xs.map((x) => x.firstCpuMs))} (wall ${spread(xs.map((x) => x.firstWallMs))}), second call CPU ${spread(xs.map((x) => x.secondCpuMs))}`,
      );
    }
    /** `f` of each round, when every side it reads was run. */
    const paired = (needs: Side[], f: (at: (side: Side) => Sample) => number) =>
      needs.every((n) => get(n).length === rounds) ? spread(Array.from({ length: rounds }, (_, i) => f((side) => get(side)[i] as Sample))) : "n/a";
    const first = (x: Sample) => x.firstCpuMs;
    const minus = (a: Side, b: Side, f: (x: Sample) => number) => paired([a, b], (at) => f(at(a)) - f(at(b)));
    console.log(
      `  paired by round: terapi start CPU − bare ${minus("terapi", "bare", (x) => x.startCpuMs)}, ` +
        `terapi first call CPU − bare ${minus("terapi", "bare", first)}, kv first call CPU − bare ${minus("kv", "bare", first)}, ` +
        `kv+aes first call CPU − kv ${minus("kv+aes", "kv", first)}, terapi first call CPU − kv+aes ${minus("terapi", "kv+aes", first)}, ` +
        `lazy first call CPU − terapi ${minus("lazy", "terapi", first)}`,
    );
    console.log(
      `  the bundle: compile (parse first call CPU − bare) ${minus("parse", "bare", first)}, evaluation ((lazy − parse) − (terapi − bare), first call CPU) ` +
        paired(["lazy", "parse", "terapi", "bare"], (at) => first(at("lazy")) - first(at("parse")) - (first(at("terapi")) - first(at("bare")))),
    );
    for (const side of ["lazy", "terapi"] as const) {
      const s = m.get(side);
      if (!s) continue;
      const shift = (p: CpuProfile): CpuProfile => ({
        ...p,
        nodes: p.nodes.map((n) => (n.callFrame.url ? { ...n, callFrame: { ...n.callFrame, lineNumber: n.callFrame.lineNumber - (s.lineOffset ?? 0) } } : n)),
      });
      const bs = s.samples.flatMap((x) => (x.first ? [breakdown(shift(x.first), s.map)] : []));
      if (bs.length === 0) continue;
      const table = (title: string, pick: (b: ReturnType<typeof breakdown>) => { key: string; ms: number }[]) => {
        const by = new Map<string, number[]>();
        for (const b of bs) for (const x of pick(b)) by.set(x.key, [...(by.get(x.key) ?? []), x.ms]);
        const med = (ms: number[]) => median([...ms, ...Array<number>(bs.length - ms.length).fill(0)]);
        console.log(`  ${side}: ${title} (median over rounds):`);
        for (const [k, ms] of [...by].sort((a, b) => med(b[1]) - med(a[1])).slice(0, 16)) console.log(`    ${med(ms).toFixed(2).padStart(7)} ms  ${k}`);
      };
      console.log(`  ${side}: first call's isolate profile, sampled ${spread(bs.map((b) => b.totalMs))} ms`);
      table("self time by source", (b) => b.self.map((x) => ({ key: x.group, ms: x.ms })));
      table("inclusive time by source", (b) => b.inclusive.map((x) => ({ key: x.group, ms: x.ms })));
      table("functions by self time", (b) => b.functions.map((x) => ({ key: x.fn, ms: x.ms })));
    }
  }
  // Every other bundle against the first, paired by round (its sides started next to the first's).
  const [firstDir, ...others] = [...sides.keys()];
  for (const dir of others) {
    const a = sides.get(firstDir as string);
    const b = sides.get(dir);
    const diff = (side: Side, f: (x: Sample) => number) => {
      const [xs, ys] = [a?.get(side)?.samples ?? [], b?.get(side)?.samples ?? []];
      return xs.length === rounds && ys.length === rounds ? spread(xs.map((x, i) => f(ys[i] as Sample) - f(x))) : "n/a";
    };
    console.log(
      `\n${dir} − ${firstDir}, paired by round: terapi first call CPU ${diff("terapi", (x) => x.firstCpuMs)}, ` +
        `terapi start CPU ${diff("terapi", (x) => x.startCpuMs)}, lazy first call CPU ${diff("lazy", (x) => x.firstCpuMs)}, ` +
        `terapi first call wall ${diff("terapi", (x) => x.firstWallMs)}`,
    );
  }
  await sim.stop();
} finally {
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
