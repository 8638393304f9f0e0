import { measureColdStart } from "./lib/cold-start.ts";
import { startSimulator } from "../scripts/lib/simulator.ts";
import { stopAllChildren } from "../scripts/lib/procs.ts";
const root = "/work/wt-perf";
const sim = await startSimulator(root, () => {});
const simKey = await sim.createKey({ requests: { limit: 1e9, window_ms: 60000 }, tokens: { limit: 1e12, window_ms: 60000 } });
for (const dir of process.argv.slice(2)) {
  const r = await measureColdStart({ root, bundleDir: dir, tmp: "/tmp/perf", simUrl: sim.url, simKey, rounds: 5 });
  console.log(dir, JSON.stringify(r));
}
await sim.stop();
await stopAllChildren();
