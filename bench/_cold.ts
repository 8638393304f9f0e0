// `npx node bench/_cold.ts [bundle dirs…]`: the cold start alone (bench/lib/cold-start.ts), with where each
// side's time goes: workerd up with the bundle loaded (Miniflare's start and the
// bundle's evaluation), the first proxied call, a second one. No dirs: the working tree's deploy
// bundle. `--rounds=N` (5); several dirs are measured interleaved, one cold start of each per round.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { type ColdStart, measureColdStart } from "./lib/cold-start.ts";
import { startSimulator } from "../scripts/lib/simulator.ts";
import { stopAllChildren } from "../scripts/lib/procs.ts";
import { bundle } from "../scripts/lib/terapi.ts";

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const rounds = Number(argv.find((a) => a.startsWith("--rounds="))?.slice("--rounds=".length) ?? 5);
const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-cold-"));
try {
  const dirs = argv.filter((a) => !a.startsWith("--"));
  if (dirs.length === 0) dirs.push((await bundle(root, tmp)).dir);
  const sim = await startSimulator(root, () => {});
  const simKey = await sim.createKey({ requests: { limit: 1e9, window_ms: 60_000 }, tokens: { limit: 1e12, window_ms: 60_000 } });
  // Builds interleaved: one cold start of each per round, so that the machine's load hits them alike.
  const runs = new Map<string, ColdStart[]>(dirs.map((d) => [d, []]));
  for (let r = 0; r < rounds; r++)
    for (const dir of r % 2 ? [...dirs].reverse() : dirs)
      runs.get(dir)?.push(await measureColdStart({ root, bundleDir: dir, tmp, simUrl: sim.url, simKey, rounds: 1 }));
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" / ");
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  for (const [dir, rs] of runs) {
    const m = (f: (c: ColdStart) => number) => median(rs.map(f)).toFixed(0);
    console.log(
      `${dir} (median of ${rs.length}, load ${load} at the end): terapi ${m((c) => c.terapiMs)} ms, bare with bindings ${m((c) => c.bareWithBindingsMs)} ms, ` +
        `terapi's part ${m((c) => c.terapiMs - c.bareWithBindingsMs)} ms (each round: ${rs.map((c) => (c.terapiMs - c.bareWithBindingsMs).toFixed(0)).join(", ")}), bare ${m((c) => c.bareMs)} ms\n` +
        `  terapi: start ${m((c) => c.phases.terapi.startMs)}, first call ${m((c) => c.phases.terapi.firstCallMs)}, second call ${m((c) => c.phases.terapi.secondCallMs)} ms\n` +
        `  bare with bindings: start ${m((c) => c.phases.bareWithBindings.startMs)}, first call ${m((c) => c.phases.bareWithBindings.firstCallMs)}, second call ${m((c) => c.phases.bareWithBindings.secondCallMs)} ms`,
    );
  }
  await sim.stop();
} finally {
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
