// The OpenAI simulator as a child process (its own event loop), and its control API.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { jsonCall } from "./json-call.ts";
import { type Child, freePort, startChild, waitFor } from "./procs.ts";

type Limit = { limit: number; window_ms: number };
/** A key's default limits per bucket, and optionally per model (`models`, see notes/SIM-LIMITS.md). */
export type Limits = {
  requests: Limit;
  tokens: Limit;
  models?: Record<string, { requests?: Limit; tokens?: Limit; requests_per_day?: Limit; tokens_per_day?: Limit; members?: string[] }>;
  chars_per_token?: number;
};

/** The simulator's built-in key, used if its control API cannot mint one. */
export const BUILTIN_KEY = "sk-test-good";

export type Simulator = {
  url: string;
  child: Child;
  /** Mints a key with these limits (`POST /__sim/keys`). */
  createKey: (limits: Limits) => Promise<string>;
  /** The simulator's counters for a key (`GET /__sim/stats?key=`), as returned. */
  stats: (key: string) => Promise<unknown>;
  /** Drops the simulator's request log and counters for a key (`DELETE /__sim/requests`), so a long run doesn't grow it. */
  clearLog: (key: string) => Promise<void>;
  stop: () => Promise<void>;
};

export async function startSimulator(root: string, log: (m: string) => void): Promise<Simulator> {
  const port = await freePort();
  const cli = resolve(root, "test/simulator/cli.ts");
  const args = existsSync(cli) ? [cli, "--port", String(port), "--host", "127.0.0.1"] : [resolve(root, "bench/sim-child.ts"), String(port)];
  log(`simulator: node ${args.map((a) => a.replace(`${root}/`, "")).join(" ")}`);
  const child = startChild("simulator", process.execPath, args, { cwd: root });
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the simulator to listen", async () => (await fetch(`${url}/__sim/health`, { signal: AbortSignal.timeout(1000) })).status > 0, 20_000, child);
  return {
    url,
    child,
    createKey: async (limits) => {
      try {
        const { json } = await jsonCall<{ key?: string }>("POST", `${url}/__sim/keys`, {}, limits);
        if (typeof json?.key === "string") return json.key;
      } catch (err) {
        log(`simulator: POST /__sim/keys failed (${(err as Error).message.slice(0, 120)}); using ${BUILTIN_KEY}`);
        return BUILTIN_KEY;
      }
      log(`simulator: POST /__sim/keys returned no key; using ${BUILTIN_KEY}`);
      return BUILTIN_KEY;
    },
    stats: async (key) => (await jsonCall<unknown>("GET", `${url}/__sim/stats?key=${encodeURIComponent(key)}`, {})).json,
    clearLog: async (key) => {
      await jsonCall<unknown>("DELETE", `${url}/__sim/requests?key=${encodeURIComponent(key)}`, {}).catch(() => undefined);
    },
    stop: () => child.stop(),
  };
}
