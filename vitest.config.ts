import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { SIMULATOR_PORT, TEST_BINDINGS } from "./test/harness/constants.ts";

// Two projects: the Worker's tests run inside workerd with real KV, Durable
// Objects and alarms; the simulator's own contract tests run in Node.
// Both talk to one OpenAI simulator that globalSetup starts on 127.0.0.1.
// The environment-wide index's schema (migrations/), applied to the test D1 by test/harness/d1-setup.ts.
const indexMigrations = await readD1Migrations("./migrations");

export default defineConfig({
  test: {
    globalSetup: ["./test/harness/global-setup.ts"],
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ...TEST_BINDINGS, OPENAI_BASE_URL: `http://127.0.0.1:${SIMULATOR_PORT}`, TEST_INDEX_MIGRATIONS: indexMigrations },
            },
          }),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          setupFiles: ["./test/harness/d1-setup.ts"],
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
