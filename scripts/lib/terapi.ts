// terapi under workerd two ways: Miniflare on the `wrangler deploy --dry-run`
// bundle (no extra hop), and `wrangler dev` (with its own proxy worker in front).
import { randomBytes } from "node:crypto";
import type { Json } from "miniflare";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { jsonCall } from "./json-call.ts";
import { type Child, freePort, startChild, waitFor, workerdPids } from "./procs.ts";

export type TerapiSecrets = { secretKey: string; encryptionKey: string };

export function newSecrets(): TerapiSecrets {
  return { secretKey: `bench_sk_${randomBytes(16).toString("hex")}`, encryptionKey: `bench:${randomBytes(32).toString("base64")}` };
}

export type RunningTerapi = {
  mode: "miniflare" | "wrangler-dev";
  origin: string;
  /** terapi's workerd process(es), for RSS. */
  pids: () => number[];
  /** workerd's inspector port (Miniflare only): heap and CPU profiles of the worker named `worker`. */
  inspector?: { port: number; worker: string };
  compatibilityDate: string | undefined;
  /** Runtime output kept for error messages. */
  tail: () => string;
  /** The D1 index (Miniflare only): the scale bench fills a month of usage history into it. */
  indexDb?: () => Promise<{ prepare: (sql: string) => { run: () => Promise<unknown> } }>;
  stop: () => Promise<void>;
};

function isJsonRecord(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const wranglerBin = (root: string) => resolve(root, "node_modules/.bin/wrangler");
const quietWrangler = (tmp: string) => ({ WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: resolve(tmp, "wrangler-logs"), NO_COLOR: "1", CI: "1" });

/** `wrangler deploy --dry-run --outdir`: the exact bundle a deploy would upload. */
export async function bundle(root: string, tmp: string): Promise<{ dir: string; ms: number }> {
  const dir = resolve(tmp, "bundle");
  const t0 = performance.now();
  const child = startChild("wrangler deploy --dry-run", wranglerBin(root), ["deploy", "--dry-run", "--env=", "--outdir", dir], {
    cwd: root,
    env: quietWrangler(tmp),
  });
  const code = await new Promise<number | null>((r) => child.proc.once("exit", (c) => r(c)));
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed (exit ${code}):\n${child.tail()}`);
  return { dir, ms: performance.now() - t0 };
}

/** Miniflare with the bindings wrangler.toml declares (KV, SQLite-backed Durable Objects), ephemeral storage. */
export async function startMiniflare(opts: {
  root: string;
  bundleDir: string;
  simUrl: string;
  secrets: TerapiSecrets;
  directSocket: boolean;
  /** Storage kept across runs (the cold-start measure restarts on it); default: in memory. */
  persistTo?: string;
  /**
   * Apply migrations/ to the D1 index once workerd is up (default true). The cold-start measure restarts on
   * storage already migrated and passes false: on Cloudflare migrations are a deploy step, not part of a start.
   */
  migrate?: boolean;
  /** `TERAPI_USAGE` for this instance ("off": usage counting off); default: the process's own `TERAPI_USAGE`, if set. */
  usage?: string;
}): Promise<RunningTerapi> {
  const [{ Miniflare, convertV4MiniflareOptions }, { unstable_getMiniflareWorkerOptions }] = await Promise.all([import("miniflare"), import("wrangler")]);
  // wrangler's own reading of wrangler.toml: KV, Durable Objects (SQLite per the migrations), vars.
  // Quiet: it would announce reading .dev.vars, whose secrets are overridden below anyway.
  const logLevel = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error";
  const { workerOptions } = unstable_getMiniflareWorkerOptions(resolve(opts.root, "wrangler.toml"));
  if (logLevel === undefined) delete process.env.WRANGLER_LOG;
  else process.env.WRANGLER_LOG = logLevel;
  const configBindings = isJsonRecord(workerOptions.bindings) ? workerOptions.bindings : {};
  const usage = opts.usage ?? process.env.TERAPI_USAGE;
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const logs: string[] = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      ...workerOptions,
      // The bundle has no module imports left to classify.
      modulesRules: undefined,
      scriptPath: resolve(opts.bundleDir, "index.js"),
      modules: true,
      modulesRoot: opts.bundleDir,
      bindings: {
        ...configBindings,
        OPENAI_BASE_URL: opts.simUrl,
        TERAPI_SECRET_KEY: opts.secrets.secretKey,
        TERAPI_ENCRYPTION_KEY: opts.secrets.encryptionKey,
        // `TERAPI_USAGE=off npm run bench`: the same figures with usage counting off; `--usage-ab` sets it per instance.
        ...(usage ? { TERAPI_USAGE: usage } : {}),
      },
      // Default (not --entry-worker): a workerd socket straight to terapi, without Miniflare's entry worker in front.
      ...(opts.directSocket ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0, entrypoint: "default" }] } : {}),
      host: "127.0.0.1",
      port,
      // workerd's own inspector (no Miniflare proxy): heap and CPU profiles, only when a client connects.
      inspectorPort,
      ...(opts.persistTo ? { resourcePersistencePath: opts.persistTo } : {}),
      // Miniflare's default logs every request through its Node-side loopback: not part of terapi.
      logRequests: false,
      handleStructuredLogs: (l) => {
        logs.push(`[${l.level}] ${l.message}`);
        if (logs.length > 60) logs.shift();
      },
    }),
  );
  const before = new Set(workerdPids(process.pid));
  const url = opts.directSocket ? (await mf.ready, await mf.unsafeGetDirectURL()) : await mf.ready;
  // The D1 index's schema (migrations/), when this version of terapi has one.
  const d1 = workerOptions.d1Databases;
  if (opts.migrate !== false && d1 && (Array.isArray(d1) ? d1.includes("INDEX_DB") : Object.keys(d1).includes("INDEX_DB"))) {
    const db = await mf.getD1Database("INDEX_DB");
    for (const sql of migrations(opts.root)) await db.prepare(sql).run();
  }
  const mine = workerdPids(process.pid).filter((p) => !before.has(p));
  return {
    mode: "miniflare",
    origin: url.origin,
    pids: () => mine,
    inspector: { port: inspectorPort, worker: typeof workerOptions.name === "string" ? workerOptions.name : "" },
    compatibilityDate: typeof workerOptions.compatibilityDate === "string" ? workerOptions.compatibilityDate : undefined,
    tail: () => logs.join("\n"),
    indexDb: () => mf.getD1Database("INDEX_DB"),
    stop: () => mf.dispose(),
  };
}

/** The statements of migrations/*.sql, in file order (comments dropped). */
export function migrations(root: string): string[] {
  const dir = resolve(root, "migrations");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) =>
      readFileSync(resolve(dir, f), "utf8")
        .split("\n")
        .filter((l) => !l.trim().startsWith("--"))
        .join("\n")
        .split(";")
        .map((st) => st.trim())
        .filter(Boolean),
    );
}

/** `wrangler dev` as a child, local mode, with its storage in the run's temp dir. */
export async function startWranglerDev(opts: { root: string; tmp: string; simUrl: string; secrets: TerapiSecrets }): Promise<RunningTerapi> {
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const args = [
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    resolve(opts.tmp, "wrangler-state"),
    "--show-interactive-dev-session=false",
    "--live-reload=false",
    "--log-level",
    "warn",
    "--var",
    `OPENAI_BASE_URL:${opts.simUrl}`,
    "--var",
    `TERAPI_SECRET_KEY:${opts.secrets.secretKey}`,
    "--var",
    `TERAPI_ENCRYPTION_KEY:${opts.secrets.encryptionKey}`,
    ...(process.env.TERAPI_USAGE ? ["--var", `TERAPI_USAGE:${process.env.TERAPI_USAGE}`] : []),
  ];
  const child: Child = startChild("wrangler dev", wranglerBin(opts.root), args, { cwd: opts.root, env: quietWrangler(opts.tmp) });
  const origin = `http://127.0.0.1:${port}`;
  await waitFor("wrangler dev to serve /health", async () => (await fetch(`${origin}/health`, { signal: AbortSignal.timeout(2000) })).ok, 60_000, child);
  const root = child.proc.pid ?? 0;
  return { mode: "wrangler-dev", origin, pids: () => workerdPids(root), compatibilityDate: undefined, tail: child.tail, stop: child.stop };
}

/** Creates the integration and a connection through terapi's own API. */
export async function createIntegration(origin: string, secretKey: string, uniqueKey: string): Promise<void> {
  await jsonCall("POST", `${origin}/integrations`, { authorization: `Bearer ${secretKey}` }, { unique_key: uniqueKey, provider: "openai" });
}

export async function createConnection(origin: string, secretKey: string, integration: string, connectionId: string, apiKey: string): Promise<void> {
  await jsonCall(
    "POST",
    `${origin}/connections`,
    { authorization: `Bearer ${secretKey}` },
    {
      provider_config_key: integration,
      connection_id: connectionId,
      credentials: { type: "API_KEY", apiKey },
    },
  );
}
