// workerd's whole process under Linux `perf` (CPU samples with native stacks): where an outgoing event's
// CPU goes beyond terapi's own JavaScript — SQLite commits (WAL writes and fsync), the RPC into the
// connection's object, the HTTP server and client, Miniflare's queue and D1, timers, object starts. The V8
// profile (--events-profile) sees terapi's isolate only, and counts wall time inside native calls; this counts
// the CPU the /proc figure counts. Used by `npm run bench -- --scale --events-perf` (bench/README.md).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";

/** Buckets, first match wins (a sample belongs to the first whose frame names appear on its stack). */
const BUCKETS: [string, string[]][] = [
  ["Durable Object start / shutdown (open, schema read, close)", ["worker_new_actor", "Actor::~Actor", "~ActorSqlite"]],
  ["SQLite commits (WAL frames + fsync), every object and D1", ["vdbeCommit"]],
  ["alarm scheduler (setAlarm reaching workerd's alarm database)", ["scheduleRun", "requestScheduledAlarm"]],
  ["sql.exec (statements)", ["SqlStorage::exec", "SqlStorage::Cursor"]],
  ["transactionSync (savepoints and the JS inside)", ["transactionSync"]],
  ["storage get/setAlarm calls", ["DurableObjectStorage::setAlarm", "DurableObjectStorage::getAlarm"]],
  ["setTimeout / clearTimeout", ["setTimeoutImpl", "ServiceWorkerGlobalScope::setTimeout", "ServiceWorkerGlobalScope::clearTimeout"]],
  ["outbound fetch (the attempts, D1 and queue calls)", ["api::fetchImpl", "fetchImplNoOutputLock"]],
  ["JS RPC into objects (the object's JS under it not counted above)", ["JsRpc", "jsrpc"]],
  ["queue consumer invocation (Miniflare)", ["QueueCustomEvent"]],
  ["HTTP server and client (kj/hyper: inbound webhooks, attempts, bindings)", ["kj_hyper", "hyper::", "HttpServer", "HttpClient", "kj::HttpHeaders"]],
  ["garbage collection", ["Heap::CollectGarbage", "Scavenge", "MarkCompact", "Sweeper", "cppgc", "IncrementalMarking"]],
  ["V8 compilers", ["maglev", "compiler::", "Compile"]],
  ["JavaScript (other)", ["Builtins_", "v8::internal::"]],
];

/**
 * The same process under the proxy's c=32 load (`npm run bench -- --profile --profile-perf`): where a proxied
 * call's CPU goes outside terapi's JavaScript. First match wins, so the background parts (the log batch's
 * SQLite and RPC, the index's queue and D1) are named before the request's own streams and HTTP.
 */
export const PROXY_BUCKETS: [string, string[]][] = [
  ["SQLite (the connection object's log and usage writes, D1's index writes)", ["sqlite3", "SqlStorage", "vdbe", "Sqlite"]],
  ["JS RPC (appendLogs, the queue and D1 bindings)", ["JsRpc", "jsrpc", "Serializer", "Deserializer", "structuredClone"]],
  ["queue consumer invocation (Miniflare)", ["QueueCustomEvent"]],
  ["streams: tee, pumps, body reads", ["Tee", "pumpTo", "ReadableStream", "WritableStream", "IdentityTransformStream", "readAllBytes", "readAllText"]],
  ["Response / Request / Headers objects", ["api::Response", "api::Request", "api::Headers", "Body::"]],
  ["timers (setTimeout, clearTimeout)", ["setTimeoutImpl", "ServiceWorkerGlobalScope::setTimeout", "ServiceWorkerGlobalScope::clearTimeout", "TimeoutManager"]],
  ["waitUntil and request contexts (IoContext, drain)", ["IoContext", "waitUntil", "drain"]],
  ["HTTP server and client (kj)", ["kj_hyper", "hyper::", "HttpServer", "HttpClient", "kj::HttpHeaders", "HttpInputStream", "HttpOutputStream"]],
  ["garbage collection", ["Heap::CollectGarbage", "Scavenge", "MarkCompact", "Sweeper", "cppgc", "IncrementalMarking", "ScavengerCollector"]],
  ["V8 compilers", ["maglev", "compiler::", "Compile"]],
  ["JavaScript and V8 builtins", ["Builtins_", "v8::internal::"]],
];

/** Starts `perf record` on `pid` (call-graph samples at 400 Hz) into `out`; stop it with `stopPerf`. */
export function startPerf(pid: number | number[], out: string): ChildProcess {
  return spawn("perf", ["record", "-F", "400", "-g", "-p", [pid].flat().join(","), "-o", out], { stdio: "ignore" });
}

export async function stopPerf(perf: ChildProcess): Promise<void> {
  if (perf.exitCode !== null) return;
  const exited = new Promise<void>((r) => perf.once("exit", () => r()));
  perf.kill("SIGINT");
  await exited;
}

/** Shares of workerd's CPU samples by bucket, from a `perf record` file. */
export function perfBuckets(file: string, table = BUCKETS): { samples: number; buckets: { name: string; pct: number }[] } {
  const text = execFileSync("perf", ["script", "-i", file, "-F", "ip,sym"], {
    maxBuffer: 1024 * 1024 * 1024,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const counts = new Map<string, number>();
  let samples = 0;
  for (const block of text.split(/\n\s*\n/)) {
    if (!block.trim()) continue;
    samples++;
    const name = table.find(([, keys]) => keys.some((k) => block.includes(k)))?.[0] ?? "other (kj event loop, allocator, kernel)";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const buckets = [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, pct: (100 * n) / Math.max(1, samples) }));
  return { samples, buckets };
}

export function renderPerf(title: string, r: ReturnType<typeof perfBuckets>, cpuPerEventMs: number, unit = { scale: 1, digits: 2, name: "ms/event" }): string {
  return [
    `${title}: ${r.samples} samples of workerd's CPU (perf, 400 Hz)`,
    ...r.buckets.map(
      (b) => `  ${b.pct.toFixed(1).padStart(5)}%  ${((b.pct / 100) * cpuPerEventMs * unit.scale).toFixed(unit.digits).padStart(5)} ${unit.name}  ${b.name}`,
    ),
  ].join("\n");
}
