// `node bench/_cold.ts [bundle dirs…]`: the cold start alone (bench/lib/cold-start.ts), with where each
// side's time goes: workerd up with the bundle loaded (Miniflare's start, the D1 migrations, the
// bundle's evaluation), the first proxied call, a second one. No dirs: the working tree's deploy
// bundle. `--rounds=N` (5).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { measureColdStart } from "./lib/cold-start.ts";
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
  for (const dir of dirs) {
    const load = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" / ");
    const r = await measureColdStart({ root, bundleDir: dir, tmp, simUrl: sim.url, simKey, rounds });
    const ph = (p: (typeof r.phases)["terapi"]) =>
      `start ${p.startMs.toFixed(0)}, first call ${p.firstCallMs.toFixed(1)}, second call ${p.secondCallMs.toFixed(1)} ms`;
    console.log(
      `${dir} (load ${load}): terapi ${r.terapiMs.toFixed(0)} ms, bare with bindings ${r.bareWithBindingsMs.toFixed(0)} ms (terapi's part ${(r.terapiMs - r.bareWithBindingsMs).toFixed(0)} ms), bare ${r.bareMs.toFixed(0)} ms\n` +
        `  terapi: ${ph(r.phases.terapi)}\n  bare with bindings: ${ph(r.phases.bareWithBindings)}`,
    );
  }
  await sim.stop();
} finally {
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
