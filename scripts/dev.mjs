#!/usr/bin/env node
// `npm run dev`: terapi on 127.0.0.1:8787 under `wrangler dev`, with local KV
// and Durable Object storage in .wrangler/. On first run it writes .dev.vars
// with a random secret key and encryption key, so nothing is set up by hand.
// `npm run dev -- --simulator` also starts the OpenAI simulator and points
// terapi at it (no network needed).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const devVarsPath = resolve(root, ".dev.vars");
const args = process.argv.slice(2);
const withSimulator = args.includes("--simulator");
const port = process.env.PORT ?? "8787";
const simulatorPort = process.env.SIMULATOR_PORT ?? "8080";

function readDevVars() {
  if (!existsSync(devVarsPath)) return {};
  const vars = {};
  for (const line of readFileSync(devVarsPath, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

let vars = readDevVars();
if (!vars.TERAPI_SECRET_KEY || !vars.TERAPI_ENCRYPTION_KEY) {
  vars = {
    TERAPI_SECRET_KEY: vars.TERAPI_SECRET_KEY ?? `terapi_sk_${randomBytes(24).toString("hex")}`,
    TERAPI_ENCRYPTION_KEY: vars.TERAPI_ENCRYPTION_KEY ?? `k1:${randomBytes(32).toString("base64")}`,
    ...vars,
  };
  const body = Object.entries(vars)
    .map(([k, v]) => `${k}="${v}"`)
    .join("\n");
  writeFileSync(devVarsPath, `# Local secrets for wrangler dev (generated; not committed).\n${body}\n`, { mode: 0o600 });
  console.log(`terapi: wrote a new local config with a random secret key and encryption key to ${devVarsPath}`);
}
console.log(`terapi: secret key for local calls is in ${devVarsPath} (TERAPI_SECRET_KEY)`);

const children = [];
function run(cmd, cmdArgs, extraEnv = {}) {
  const child = spawn(cmd, cmdArgs, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...extraEnv },
  });
  children.push(child);
  child.on("exit", (code, signal) => {
    for (const other of children) if (other !== child && other.exitCode === null) other.kill("SIGTERM");
    process.exit(code ?? (signal ? 1 : 0));
  });
  return child;
}

// The environment-wide index's tables (migrations/) in the local D1, before the Worker starts. Idempotent.
const migrated = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "INDEX_DB", "--local"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
});
if (migrated.status !== 0) process.exit(migrated.status ?? 1);

const wranglerArgs = ["wrangler", "dev", "--ip", "127.0.0.1", "--port", port, ...args.filter((a) => a !== "--simulator")];
if (withSimulator) {
  run(process.execPath, [resolve(root, "test/simulator/cli.ts"), "--port", simulatorPort]);
  wranglerArgs.push("--var", `OPENAI_BASE_URL:http://127.0.0.1:${simulatorPort}`);
}
run("npx", wranglerArgs);

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    for (const child of children) if (child.exitCode === null) child.kill(sig);
  });
}
