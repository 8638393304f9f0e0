import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { bundle } from "../../scripts/lib/terapi.ts";
import { startSimulator } from "../simulator/server.ts";
import { SIMULATOR_PORT } from "./constants.ts";
import { startReceiver } from "./receiver.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the scriptable webhook receiver (test/harness/receiver.ts). */
    receiverUrl: string;
    /** terapi's deploy bundle, built once per run for the tests that serve it over HTTP (node, e2e); "" when none of them runs. */
    bundleDir: string;
  }
}

const root = resolve(import.meta.dirname, "../..");
/** The projects that start terapi's deploy bundle on Miniflare themselves. */
const BUNDLE_PROJECTS = new Set(["node", "e2e"]);

/**
 * Once per run, for every project: the OpenAI simulator (tests isolate by
 * using their own keys), the scriptable webhook receiver (port 0 by default so
 * parallel runs never collide; TERAPI_TEST_RECEIVER_PORT pins it) and, when a
 * project that needs it runs, terapi's deploy bundle (`wrangler deploy
 * --dry-run`), built once instead of once per test file.
 */
export default async function setup(project: TestProject) {
  const names = new Set(project.vitest.projects.map((p) => p.name));
  const tmp = mkdtempSync(resolve(tmpdir(), "terapi-test-"));
  const needsBundle = [...names].some((n) => BUNDLE_PROJECTS.has(n));
  const [sim, receiver, built] = await Promise.all([
    startSimulator({ port: SIMULATOR_PORT, host: "127.0.0.1" }),
    startReceiver({ port: Number(process.env.TERAPI_TEST_RECEIVER_PORT ?? 0), host: "127.0.0.1" }),
    needsBundle ? bundle(root, tmp) : undefined,
  ]);
  project.provide("receiverUrl", receiver.url);
  project.provide("bundleDir", built?.dir ?? "");
  return async () => {
    await Promise.all([sim.close(), receiver.close()]);
    rmSync(tmp, { recursive: true, force: true });
  };
}
