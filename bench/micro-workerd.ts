// `npm run bench -- --micro --workerd`: the steps of bench/micro/workerd-steps.ts
// timed inside workerd, where Headers, Response, timers and URL are workerd's C++
// (Node's micro-benchmark only gives their order of magnitude). Inside a Worker
// the clock stands still while code runs, so the time is workerd's CPU time
// (/proc/<pid>/stat) around one request that runs a step n times, minus the
// empty loop's, best of 3.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { dirname, resolve } from "node:path";
import { cpuMs, freePort, workerdPids } from "../scripts/lib/procs.ts";

const ENTRY = `
import { prepare, steps } from "./workerd-steps.ts";
let prepared;
export default {
  async fetch(req) {
    await (prepared ??= prepare());
    const u = new URL(req.url);
    if (u.pathname === "/names") return Response.json(steps.map((s) => s.name));
    const step = steps[Number(u.searchParams.get("i"))];
    const n = Number(u.searchParams.get("n"));
    let sink = 0;
    for (let k = 0; k < n; k++) if (step.run() !== undefined) sink++;
    return new Response(String(sink));
  },
};`;

export async function runMicroWorkerd(root: string): Promise<void> {
  const { build } = await import("esbuild");
  const dir = mkdtempSync(resolve(os.tmpdir(), "terapi-micro-workerd-"));
  const script = resolve(dir, "entry.mjs");
  await build({
    stdin: { contents: ENTRY, resolveDir: resolve(root, "bench/micro"), loader: "js" },
    bundle: true,
    platform: "neutral",
    format: "esm",
    outfile: script,
    external: ["cloudflare:*", "node:*"],
    logLevel: "error",
  });
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const before = new Set(workerdPids(process.pid));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      scriptPath: script,
      modules: true,
      modulesRoot: dirname(script),
      compatibilityDate: "2026-11-01",
      compatibilityFlags: ["nodejs_compat"],
      host: "127.0.0.1",
      port: await freePort(),
    }),
  );
  try {
    const url = await mf.ready;
    const pids = workerdPids(process.pid).filter((p) => !before.has(p));
    const names = (await (await fetch(new URL("/names", url))).json()) as string[];
    /** CPU ms of one request running step i n times. */
    const once = async (i: number, n: number) => {
      const c0 = cpuMs(pids);
      await (await fetch(new URL(`/?i=${i}&n=${n}`, url))).text();
      return cpuMs(pids) - c0;
    };
    const perCall = async (i: number) => {
      await once(i, 2_000);
      // Enough calls for ≈ 300 ms of CPU (the clock ticks by 10 ms).
      let n = 20_000;
      const probe = await once(i, n);
      n = Math.min(5_000_000, Math.max(n, Math.round((n * 300) / Math.max(probe, 10))));
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < 3; r++) best = Math.min(best, ((await once(i, n)) * 1000) / n);
      return best;
    };
    const empty = await perCall(0);
    const rows = [`${empty.toFixed(3).padStart(8)} µs  ${names[0]} (subtracted below)`];
    for (let i = 1; i < names.length; i++) rows.push(`${((await perCall(i)) - empty).toFixed(3).padStart(8)} µs  ${names[i]}`);
    process.stdout.write(
      `\nmicro-benchmarks in workerd (CPU time per call, best of 3, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}):\n${rows.join("\n")}\n`,
    );
  } finally {
    await mf.dispose();
  }
}
