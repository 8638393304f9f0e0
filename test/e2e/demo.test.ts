import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { expect, inject, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

// `npm run demo` is what a newcomer runs first: it must walk the whole product
// offline and exit 0. How long it takes is printed here and is a speed figure
// (README: "in a few seconds"), not an assertion: a loaded machine would fail it.
it("npm run demo walks the whole product and exits 0", async () => {
  const started = performance.now();
  const child = spawn(process.execPath, [resolve(root, "scripts/demo.ts")], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", TERAPI_DEMO_BUNDLE_DIR: inject("bundleDir") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  const seconds = (performance.now() - started) / 1000;
  expect(code, out.slice(-4000)).toBe(0);
  console.log(`npm run demo: ${seconds.toFixed(1)} s (the bundle given by the test run's set-up)`);
  for (const step of ["/proxy/v1", "Stream a completion", "GET /records", "POST /action/trigger", "signed webhook", "GET /logs", "Done"])
    expect(out).toContain(step);
}, 90_000);
