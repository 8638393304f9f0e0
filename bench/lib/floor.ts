// A bare pass-through Worker on its own workerd (same Miniflare set-up, same
// compatibility date): the floor any proxy on workerd pays for the extra hop.
// Measured next to terapi, it splits "added latency" into the hop and terapi's own work.
// `startFloor` also starts other plain-JS Workers built on the same pass-through
// (bench/lib/need.ts: the floor of the required work, `npm run bench -- --need`).
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, resolve } from "node:path";
import type { Target } from "./http.ts";
import { freePort, workerdPids } from "../../scripts/lib/procs.ts";

/**
 * The bare pass-through's statements before it sends (inside `fetch(request, …)`): `url`, `path` and the
 * upstream `headers`, whose `authorization` is the JS expression `auth`. Every bare Worker the bench
 * measures (this one, the cold start's, the ladder's and the primitives' inside terapi's deployment) is
 * built from these lines, so they stay one script.
 */
export const passThroughHeaders = (auth: string) => `
    const url = new URL(request.url);
    const path = url.pathname.startsWith("/proxy/") ? url.pathname.slice("/proxy".length) : url.pathname;
    const headers = new Headers(request.headers);
    headers.set("authorization", ${auth});
    headers.delete("connection-id");
    headers.delete("provider-config-key");
    headers.delete("host");`;

/** The pass-through's statements here: the simulator's key (`env.API_KEY`) for terapi's connection headers. Upstream is `env.UPSTREAM`. */
export const PREPARE = passThroughHeaders('"Bearer " + env.API_KEY');

const SCRIPT = `
export default {
  async fetch(request, env) {${PREPARE}
    return fetch(env.UPSTREAM + path + url.search, { method: request.method, headers, body: request.body });
  },
};`;

export type Floor = { target: Target; pids: () => number[]; inspector: { port: number; worker: string }; stop: () => Promise<void> };

/** The bare Worker, or with `script` another Worker module with the same bindings (`UPSTREAM`, `API_KEY`). */
export async function startFloor(opts: {
  simUrl: string;
  apiKey: string;
  compatibilityDate: string | undefined;
  directSocket: boolean;
  script?: string;
}): Promise<Floor> {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const script = resolve(mkdtempSync(resolve(os.tmpdir(), "terapi-floor-")), "floor.mjs");
  writeFileSync(script, opts.script ?? SCRIPT);
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      // A script file, as terapi's bundle is (workerd's inspector drops sessions to an inline module).
      scriptPath: script,
      modules: true,
      modulesRoot: dirname(script),
      compatibilityDate: opts.compatibilityDate,
      bindings: { UPSTREAM: opts.simUrl, API_KEY: opts.apiKey },
      ...(opts.directSocket ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0, entrypoint: "default" }] } : {}),
      host: "127.0.0.1",
      port,
      inspectorPort,
      logRequests: false,
      handleStructuredLogs: () => {},
    }),
  );
  const before = new Set(workerdPids(process.pid));
  const url = opts.directSocket ? (await mf.ready, await mf.unsafeGetDirectURL()) : await mf.ready;
  const mine = workerdPids(process.pid).filter((p) => !before.has(p));
  return {
    target: { name: "bare workerd proxy", base: `${url.origin}/proxy`, headers: {} },
    pids: () => mine,
    inspector: { port: inspectorPort, worker: "" },
    stop: () => mf.dispose(),
  };
}
