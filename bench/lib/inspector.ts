// A minimal Chrome DevTools protocol client for workerd's inspector (Miniflare
// `inspectorPort`): the isolate's heap (Runtime.getHeapUsage) and CPU profiles
// (Profiler.start/stop). One WebSocket per worker, opened only when asked.

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export type Inspector = {
  /** Rejects after `timeoutMs` without an answer (workerd leaves some methods unanswered for some workers). */
  send: <T = unknown>(method: string, params?: Record<string, unknown>, timeoutMs?: number) => Promise<T>;
  close: () => void;
};

/** The inspector target with this id (workerd lists a user worker as `core:user:<name>`, Miniflare's own as e.g. `d1:db`). */
async function targetUrl(port: number, id: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5_000) });
  const targets = (await res.json()) as { id: string; title?: string; webSocketDebuggerUrl?: string }[];
  const t = targets.find((x) => x.id === id);
  if (!t) throw new Error(`no inspector target '${id}' (have ${targets.map((x) => x.id).join(", ")})`);
  return t.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${t.id}`;
}

export const connectInspector = (port: number, worker: string): Promise<Inspector> => connectInspectorTarget(port, `core:user:${worker}`);

/** Any isolate of the workerd process by its target id (Miniflare's queue broker, D1, …). */
export async function connectInspectorTarget(port: number, id: string): Promise<Inspector> {
  const ws = new WebSocket(await targetUrl(port, id));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`inspector ${port}/${id}: connection failed`)), { once: true });
  });
  let next = 1;
  const pending = new Map<number, Pending>();
  ws.addEventListener("message", (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  ws.addEventListener("close", () => {
    for (const p of pending.values()) p.reject(new Error("inspector closed"));
    pending.clear();
  });
  return {
    send: <T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`inspector: no answer to ${method} within ${timeoutMs} ms`));
        }, timeoutMs);
        const settle =
          <V>(f: (v: V) => void) =>
          (v: V) => {
            clearTimeout(timer);
            f(v);
          };
        pending.set(id, { resolve: settle(resolve as (v: unknown) => void), reject: settle(reject) });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** The isolate's JS heap in MiB (V8's used size), after a GC when `collect` (the retained size). */
export async function heapMiB(ins: Inspector, collect = false): Promise<number> {
  // Not answered for every worker: then the figure is without the GC.
  if (collect) await ins.send("HeapProfiler.collectGarbage", {}, 3_000).catch(() => {});
  const { usedSize } = await ins.send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage", {}, 10_000);
  return usedSize / (1024 * 1024);
}

/** Samples the heap every `everyMs` over one open session; keeps the peak. */
export function heapSampler(ins: Inspector, everyMs = 500) {
  let peak = 0;
  const timer = setInterval(() => {
    heapMiB(ins).then(
      (m) => {
        peak = Math.max(peak, m);
      },
      () => {},
    );
  }, everyMs);
  timer.unref();
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

export type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

/** Profiles the isolate while `during` runs. */
export async function cpuProfile(ins: Inspector, during: () => Promise<void>, intervalUs = 100): Promise<CpuProfile> {
  await ins.send("Profiler.enable", {}, 5_000);
  await ins.send("Profiler.setSamplingInterval", { interval: intervalUs }, 5_000);
  await ins.send("Profiler.start", {}, 5_000);
  await during();
  const { profile } = await ins.send<{ profile: CpuProfile }>("Profiler.stop");
  await ins.send("Profiler.disable");
  return profile;
}
