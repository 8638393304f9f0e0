// `npm run bench -- --micro`: each step of a proxied call timed alone, in a loop
// (bench/micro/steps.ts, bundled for Node with esbuild). Node's V8 runs the JS as
// workerd's does; Headers, Response and crypto.subtle are Node's, not workerd's.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

type Step = { name: string; run: () => unknown | Promise<unknown> };

export async function runMicro(root: string): Promise<void> {
  const { build } = await import("esbuild");
  const out = resolve(mkdtempSync(resolve(os.tmpdir(), "terapi-micro-")), "steps.mjs");
  await build({
    entryPoints: [resolve(root, "bench/micro/steps.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: out,
    external: ["cloudflare:*"],
    logLevel: "error",
  });
  const { steps } = (await import(pathToFileURL(out).href)) as { steps: Step[] };
  const rows: string[] = [];
  for (const step of steps) {
    // Warm up (JIT), then the best of 5 rounds of 20,000 calls (awaited when async).
    const round = async (n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = step.run();
        if (r instanceof Promise) await r;
      }
      return ((performance.now() - t0) * 1000) / n;
    };
    await round(20_000);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) best = Math.min(best, await round(20_000));
    rows.push(`${best.toFixed(2).padStart(8)} µs  ${step.name}`);
  }
  process.stdout.write(`\nmicro-benchmarks (Node ${process.version}, best of 5 × 20,000 calls, µs per call):\n${rows.join("\n")}\n`);
}
