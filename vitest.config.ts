import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { SIMULATOR_PORT, TEST_BINDINGS } from "./test/harness/constants.ts";

// The Worker's tests run inside workerd with real KV, Durable Objects and
// alarms, in two projects. `worker`: files share a pool worker one after the
// other (isolate: false), so each worker starts Miniflare and loads the Worker's
// modules once instead of once per file; every pool worker has its own Miniflare,
// so files running at the same time never share storage, only files that ran
// earlier in the same worker leave their connections behind.
// `worker-isolated`: a fresh Miniflare per file, for files that assert on
// environment-wide lists (every connection on the dashboard, the top connections).
// The simulator's own contract tests run in Node; `e2e` drives terapi's bundle in
// Chromium. All talk to one OpenAI simulator that globalSetup starts on 127.0.0.1.
// The environment-wide index's schema (migrations/), applied to the test D1 by test/harness/file-setup.ts.
const indexMigrations = await readD1Migrations("./migrations");

const workerPool = () =>
  cloudflareTest({
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: {
      bindings: { ...TEST_BINDINGS, OPENAI_BASE_URL: `http://127.0.0.1:${SIMULATOR_PORT}`, TEST_INDEX_MIGRATIONS: indexMigrations },
    },
  });

/** Worker test files that must see an environment of their own (see above). */
const ISOLATED = ["dashboard", "usage-dashboard"].map((name) => `test/worker/${name}.test.ts`);

export default defineConfig({
  test: {
    globalSetup: ["./test/harness/global-setup.ts"],
    // Most of a run is waiting (rate-limit windows, alarms, the simulator): more files at once than the 2 cores.
    maxWorkers: 3,
    projects: [
      {
        plugins: [workerPool()],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          exclude: ISOLATED,
          isolate: false,
          setupFiles: ["./test/harness/file-setup.ts"],
          testTimeout: 30_000,
        },
      },
      {
        plugins: [workerPool()],
        test: {
          name: "worker-isolated",
          include: ISOLATED,
          setupFiles: ["./test/harness/file-setup.ts"],
          testTimeout: 30_000,
        },
      },
      {
        // Terapi's bundle served over HTTP and driven by a real browser (Chromium, see test/e2e/chromium.ts).
        test: {
          name: "e2e",
          environment: "node",
          // Installs Chromium when missing: only when the browser tests run (not `npm run test:worker`).
          globalSetup: ["./test/e2e/global-setup.ts"],
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
