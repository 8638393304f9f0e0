// The load generator: one code path for both targets (the simulator directly,
// and terapi's proxy), over node:http with keep-alive agents.
import http from "node:http";
import { performance } from "node:perf_hooks";

/** Where a request goes and how it authenticates: the only thing that differs between targets. */
export type Target = {
  name: string;
  /** e.g. `http://127.0.0.1:4000` (direct) or `http://127.0.0.1:5000/proxy` (terapi). */
  base: string;
  headers: Record<string, string>;
};

export type RequestSpec = {
  method: string;
  /** Appended to the target's base, e.g. `/v1/chat/completions`. */
  path: string;
  body?: string;
  headers?: Record<string, string>;
};

export type Sample = {
  status: number;
  /** Milliseconds from the start of the request. */
  headersMs: number;
  firstByteMs: number;
  totalMs: number;
  /** Wall-clock (performance.now) at which the request started and ended. */
  startedAt: number;
  endedAt: number;
  bytes: number;
  /** Set for transport errors (connection refused, reset …). */
  error?: string;
  /** The start of the body for non-2xx responses, and the end of the body for streams. */
  snippet?: string;
};

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: "lifo" });
}

/** Sends one request; resolves (never rejects) with its timings. */
export function send(agent: http.Agent, target: Target, spec: RequestSpec, opts: { keepTail?: boolean; timeoutMs?: number } = {}): Promise<Sample> {
  const url = new URL(target.base + spec.path);
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  const headers: Record<string, string> = { ...target.headers, ...spec.headers };
  if (body) {
    headers["content-type"] ??= "application/json";
    headers["content-length"] = String(body.length);
  }
  return new Promise<Sample>((resolve) => {
    const startedAt = performance.now();
    let headersMs = 0;
    let firstByteMs = 0;
    let bytes = 0;
    let head = "";
    let tail = "";
    let settled = false;
    const done = (status: number, error?: string) => {
      if (settled) return;
      settled = true;
      const endedAt = performance.now();
      const snippet = status >= 300 || status === 0 ? head.slice(0, 300) : opts.keepTail ? tail : undefined;
      resolve({ status, headersMs, firstByteMs: firstByteMs || endedAt - startedAt, totalMs: endedAt - startedAt, startedAt, endedAt, bytes, error, snippet });
    };
    const req = http.request({ agent, method: spec.method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers }, (res) => {
      headersMs = performance.now() - startedAt;
      const status = res.statusCode ?? 0;
      res.on("data", (chunk: Buffer) => {
        if (bytes === 0) firstByteMs = performance.now() - startedAt;
        bytes += chunk.length;
        if (head.length < 300) head += chunk.toString("utf8");
        if (opts.keepTail) tail = (tail + chunk.toString("utf8")).slice(-200);
      });
      res.on("end", () => done(status));
      res.on("error", (err) => done(0, `${err.name}: ${err.message}`));
    });
    req.on("error", (err) => done(0, `${err.name}: ${err.message}`));
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no response within ${opts.timeoutMs} ms`)));
    req.end(body);
  });
}

/**
 * Closed loop: `concurrency` workers send back to back until `count` requests
 * were sent or `durationMs` elapsed (whichever is given).
 */
export async function closedLoop(opts: {
  concurrency: number;
  count?: number;
  durationMs?: number;
  fire: () => Promise<Sample>;
}): Promise<{ samples: Sample[]; elapsedMs: number }> {
  const samples: Sample[] = [];
  const start = performance.now();
  const stopAt = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : start + opts.durationMs;
  let issued = 0;
  const more = () => (opts.count === undefined || issued < opts.count) && performance.now() < stopAt;
  const worker = async () => {
    while (more()) {
      issued++;
      samples.push(await opts.fire());
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { samples, elapsedMs: performance.now() - start };
}
