// `npm run bench -- --scale`: terapi with many connections (10,000 by default), see bench/README.md.
//
//   --connections=N        connections created through the API (default 10000)
//   --event-connections=N  of those, how many get a webhook secret and take the event traffic (default 1000)
//   --event-rate=R         inbound webhooks per second, each forwarded as one outgoing event (default 500)
//   --event-seconds=S      how long that rate is held (default 20)
//   --only=events|reads    after the creates, only the outgoing events or only the traffic and reads (while iterating)
//   --ref=<commit>         measure another commit (e.g. main, for "before"); default HEAD, --working-tree as the default run
//   --events-profile       with the events: a V8 CPU profile of terapi's isolate over the event window (per-event breakdown)
//   --events-perf          with the events: Linux `perf` on workerd over the event window (commits, RPC, HTTP, queue, D1…)
//   --compare=<commit>     events only: that commit and HEAD (or --working-tree) side by side, each on its own workerd with
//                          its own connections, event blocks alternating between them (--rounds=N, default 3): CPU per event
//                          before/after, interleaved on the same loaded machine
//   --traffic=T            proxied calls spread over the connections before the reads (default max(N, 5000))
//   --usage-days=D         before the reads, the D-1 days before today of usage history for every connection go into the
//                          D1 index (two models a day each), so the dashboard ranks a month of it (default 30; 1 = today's only)
//   --one-round            reads after the first traffic round only (default: also during and after a second round)
//   --persist=DIR          keep terapi's storage (and its secrets) in DIR; a later run on the same DIR skips the creates
//                          that are already there (iterating on the reads without 10,000 creates each time)
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { startReceiverProcess } from "./lib/event-receiver.ts";
import { type BlockResult, eventBlock, SETUP_TAIL_MS, settle } from "./lib/events-load.ts";
import type { CpuProfile } from "./lib/inspector.ts";
import { perfBuckets, renderPerf, startPerf, stopPerf } from "./lib/perf-report.ts";
import { breakdown, renderBreakdown } from "./lib/profile-report.ts";
import { cpuMs, freePort, killAllChildrenSync, rssSampler, sleep, stopAllChildren, totalRss } from "../scripts/lib/procs.ts";
import { BUILTIN_KEY, startSimulator, type Simulator } from "../scripts/lib/simulator.ts";
import { prepareSource, sourceAt } from "./lib/source.ts";
import { bundle, migrations, newSecrets, startMiniflare, type RunningTerapi, type TerapiSecrets } from "../scripts/lib/terapi.ts";

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const ref = argv.find((a) => a.startsWith("--ref="))?.slice("--ref=".length);
const compare = argv.find((a) => a.startsWith("--compare="))?.slice("--compare=".length);
const profileEvents = argv.includes("--events-profile");
const perfEvents = argv.includes("--events-perf");
// Events only (or a comparison): just the connections that take events, so the run starts in about a minute.
const N = opt("connections", only === "events" || compare ? opt("event-connections", 1_000) : 10_000);
const E = Math.min(N, opt("event-connections", 1_000));
const RATE = opt("event-rate", 500);
const EVENT_S = opt("event-seconds", 20);
const ROUNDS = opt("rounds", 3);
const USAGE_DAYS = opt("usage-days", 30);
const persist = argv.find((a) => a.startsWith("--persist="))?.slice("--persist=".length);
const t0 = performance.now();
const log = (m: string) => process.stderr.write(`[scale +${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

type Row = { what: string; value: string; target?: string; pass?: boolean; note?: string };
const rows: Row[] = [];
const errors: string[] = [];

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : "n/a");

/** `count` calls at `concurrency`, each timed; statuses counted. */
async function timed(count: number, concurrency: number, call: (i: number) => Promise<number>) {
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        let status = 0;
        try {
          status = await call(i);
        } catch {
          status = -1;
        }
        lat.push(performance.now() - t);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  return { lat, statuses, elapsedMs: performance.now() - start };
}
const statusText = (m: Map<number, number>) => [...m.entries()].map(([s, n]) => `${s === -1 ? "error" : s}×${n}`).join(", ");

function eventRows(b: BlockResult, connections: number, settledS: number): Row[] {
  return [
    {
      what: `inbound webhooks sent/s (open loop, target ${RATE}/s)`,
      value: (b.sent / b.sendSeconds).toFixed(0),
      note: `${statusText(b.inbound)}; max in flight ${b.maxInFlight}; set-up settled ${settledS.toFixed(0)} s before`,
    },
    {
      what: `outgoing events delivered/s sustained across ${connections} connections`,
      value: b.deliveredRate.toFixed(0),
      target: "≥ 500/s",
      pass: b.deliveredRate >= 500,
      note: `${b.delivered} delivered, first send to last arrival`,
    },
    {
      what: "workerd CPU per delivered event (inbound webhook, store, attempt, logs, index)",
      value: `${b.cpuPerEvent.toFixed(2)} ms`,
      note: `≈ ${(1000 / b.cpuPerEvent).toFixed(0)} events/s per core at this cost`,
    },
    {
      what: "delivery lag p99 (inbound webhook sent → forward event received)",
      value: ms(pct(b.lags, 99)),
      target: "≤ 2 s",
      pass: pct(b.lags, 99) <= 2_000,
      note: `p50 ${ms(pct(b.lags, 50))}, max ${ms(Math.max(...b.lags))}`,
    },
    {
      what: "events lost / delivered to the wrong connection",
      value: `${b.lost} / ${b.wrong}`,
      target: "0 / 0",
      pass: b.lost === 0 && b.wrong === 0 && (b.inbound.get(200) ?? 0) === b.sent,
      note: `lost = answered 200 but never delivered; ${b.dupes} duplicate deliveries (at least once); ${b.unanswered} delivered whose inbound call timed out client-side; ${b.other} other bodies`,
    },
  ];
}

/** The events' CPU profile by source file and function (mapped through the bundle's source map), per delivered event. */
function reportProfile(profile: CpuProfile, sourceMap: string, delivered: number): void {
  const file = resolve(root, "bench/profile-events.cpuprofile");
  writeFileSync(file, JSON.stringify(profile));
  const b = breakdown(profile, sourceMap);
  const busyMs = b.totalMs - (b.self.find((x) => x.group === "(idle)")?.ms ?? 0);
  process.stdout.write(
    `\n${renderBreakdown(`events (${delivered} delivered) under the profiler`, b)}\n` +
      `busy (not idle): ${busyMs.toFixed(0)} ms = ${(busyMs / Math.max(1, delivered)).toFixed(2)} ms of the isolate's thread per delivered event\n` +
      `profile: ${file}\n`,
  );
}

/**
 * The index rows a month of usage leaves: for each of the `days` - 1 days
 * before today, two models' day sums for every connection c0…c(n-1), written
 * straight into usage_daily in one statement (10,000 connections through
 * their objects' ledgers would take the length of the month); then the
 * source's migrations run again, whose backfills derive the other usage
 * tables from usage_daily as they do for a database migrated with rows in it.
 * Idempotent.
 */
async function fillUsageHistory(
  db: { prepare: (sql: string) => { run: () => Promise<unknown> } },
  sourceDir: string,
  pck: string,
  n: number,
  days: number,
): Promise<void> {
  const DAY = 86_400_000;
  const today = Date.now() - (Date.now() % DAY);
  const models = ["gpt-4o-mini", "gpt-4o"];
  await db
    .prepare(
      `INSERT INTO usage_daily (provider_config_key, connection_id, day, model, source, requests, errors, estimated_requests,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, updated_at)
      WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${n - 1}),
        d(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM d WHERE k < ${days - 1})
      SELECT '${pck}', 'c' || i, ${today} - k * ${DAY}, m.column1, 'proxy', (i * 7919 + k * 31) % 100 + 1, 0, 0,
        (i * 7919 + k * 31) % 10000, ((i * 7919 + k * 31) % 10000) * ((i * 13) % 50) / 100, (i * 31 + k) % 5000, 0, ${today}
      FROM c, d, (VALUES ${models.map((m) => `('${m}')`).join(", ")}) m WHERE true
      ON CONFLICT DO NOTHING`,
    )
    .run();
  for (const sql of migrations(sourceDir)) await db.prepare(sql).run();
}

/** The secrets of storage kept in `dir` (written on its first run): its stored credentials are sealed with them. */
function keptSecrets(dir: string): TerapiSecrets {
  const file = resolve(dir, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as TerapiSecrets;
  mkdirSync(dir, { recursive: true });
  const secrets = newSecrets();
  writeFileSync(file, JSON.stringify(secrets));
  return secrets;
}

/** How many of c0…c(n-1) kept storage already holds (they are created in order: a binary search on GET /connections/:id). */
async function keptConnections(call: (m: string, p: string) => Promise<{ status: number }>, pck: string, n: number): Promise<number> {
  const exists = async (i: number) => (await call("GET", `/connections/c${i}?provider_config_key=${pck}`)).status === 200;
  let [lo, hi] = [0, n];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (await exists(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export async function runScale(): Promise<number> {
  if (compare) return runEventsCompare(compare);
  const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-scale-"));
  let sim: Simulator | undefined;
  let terapi: RunningTerapi | undefined;
  const receiver = await startReceiverProcess(root, await freePort());
  process.on("exit", killAllChildrenSync);
  const source = ref ? sourceAt(root, ref, resolve(tmp, "src")) : prepareSource(root, tmp, argv.includes("--working-tree"));
  log(`measuring ${source.label}: ${N} connections, events on ${E} of them at ${RATE}/s for ${EVENT_S} s`);
  try {
    const [s, b] = await Promise.all([startSimulator(source.dir, log), bundle(source.dir, tmp)]);
    sim = s;
    // Kept storage holds connections whose key must still be valid in this run's (new) simulator: its built-in key.
    const simKey = persist
      ? BUILTIN_KEY
      : await s.createKey({ requests: { limit: 1_000_000_000, window_ms: 60_000 }, tokens: { limit: 1_000_000_000_000, window_ms: 60_000 } });
    const secrets = persist ? keptSecrets(persist) : newSecrets();
    terapi = await startMiniflare({
      root: source.dir,
      bundleDir: b.dir,
      simUrl: s.url,
      secrets,
      directSocket: true,
      ...(persist ? { persistTo: resolve(persist, "state") } : {}),
    });
    const t = terapi;
    const origin = t.origin;
    const auth = { authorization: `Bearer ${secrets.secretKey}` };
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${origin}${path}`, {
        method,
        headers: { ...auth, ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      return { status: res.status, text, headers: res.headers };
    };
    const mem = rssSampler(t.pids);
    const idle = totalRss(t.pids()).mib;
    log(`terapi at ${origin}, workerd RSS ${idle.toFixed(0)} MiB`);

    const pck = "openai-scale";
    const r0 = await call("POST", "/integrations", { unique_key: pck, provider: "openai" });
    if (r0.status >= 300 && !(persist && r0.status === 409)) throw new Error(`integration: ${r0.status} ${r0.text}`);
    const whsec = `whsec_${randomBytes(32).toString("base64")}`;

    // 1. Connections, through the API (key checked upstream, stored, indexed in the Registry, syncs started).
    // With --persist, the connections a previous run left are not created again (their creates/s is that run's).
    const have = persist ? await keptConnections(call, pck, N) : 0;
    log(`creating ${N - have} connections${have ? ` (${have} kept from ${persist})` : ""}`);
    const created = await timed(N - have, 16, async (j) => {
      const i = have + j;
      const r = await call("POST", "/connections", {
        provider_config_key: pck,
        connection_id: `c${i}`,
        credentials: { type: "API_KEY", apiKey: simKey },
        ...(i < E ? { connection_config: { webhook_secret: whsec } } : {}),
      });
      if (r.status >= 300 && !(persist && r.status === 409) && errors.length < 5) errors.push(`create c${i}: ${r.status} ${r.text.slice(0, 200)}`);
      return r.status;
    });
    const createRate = ((N - have) / created.elapsedMs) * 1000;
    rows.push({
      what: "connection creates/s (c=16, through the Registry)",
      value: createRate.toFixed(0),
      note: `p99 ${ms(pct(created.lat, 99))}; ${statusText(created.statuses)}`,
    });
    const afterCreates = totalRss(t.pids()).mib;
    log(`created in ${(created.elapsedMs / 1000).toFixed(1)} s (${createRate.toFixed(0)}/s); RSS ${afterCreates.toFixed(0)} MiB`);
    /** When the last set-up work that brings delayed work (creates, traffic) ended. */
    let setupEnd = performance.now();

    if (only !== "events") {
      // 2. Traffic spread over every connection: proxied calls (each writes a log line, and its usage reaches the index 30 s later).
      const TRAFFIC = opt("traffic", Math.max(N, 5_000));
      const proxyTraffic = (concurrency: number) =>
        timed(TRAFFIC, concurrency, async (i) => {
          const r = await call("GET", "/proxy/v1/models", undefined, { "connection-id": `c${(i * 7919) % N}`, "provider-config-key": pck });
          return r.status;
        });
      log(`proxy traffic: ${TRAFFIC} calls spread over the ${N} connections`);
      const traffic = await proxyTraffic(32);
      rows.push({
        what: "proxied calls/s spread over all connections (c=32)",
        value: ((TRAFFIC / traffic.elapsedMs) * 1000).toFixed(0),
        note: `p99 ${ms(pct(traffic.lat, 99))}; ${statusText(traffic.statuses)}`,
      });

      // A month of usage history, as the connections' ledgers would have left it in the index: the dashboard's top list ranks it.
      if (USAGE_DAYS > 1 && t.indexDb) {
        const st = performance.now();
        await fillUsageHistory(await t.indexDb(), source.dir, pck, N, USAGE_DAYS);
        log(`usage history: ${USAGE_DAYS - 1} days × ${N} connections × 2 models in the index (${((performance.now() - st) / 1000).toFixed(1)} s)`);
      }

      // 3. The environment-wide reads.
      await sleep(3_000);
      const pages: number[] = [];
      let cursor: string | null = null;
      let pageStatus = 0;
      for (let p = 0; p < 200; p++) {
        const st = performance.now();
        const r = await call("GET", `/connections?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        pages.push(performance.now() - st);
        pageStatus = r.status;
        if (r.status !== 200) break;
        cursor = (JSON.parse(r.text) as { next_cursor: string | null }).next_cursor;
        if (!cursor) cursor = null;
      }
      rows.push({
        what: "GET /connections?limit=100 page p99 (walking all pages, c=1)",
        value: ms(pct(pages, 99)),
        note: `p50 ${ms(pct(pages, 50))}, ${pages.length} pages, last ${pageStatus}`,
      });

      /**
       * GET /logs (no filter, then filtered) and GET /dashboard, c=4 each, one after the other; `when` names the
       * moment (after a traffic round, or while one runs) in the rows.
       */
      const measureReads = async (when: string) => {
        const logsRun = await timed(200, 4, async () => (await call("GET", "/logs?limit=100")).status);
        const logsOk = (logsRun.statuses.get(200) ?? 0) === 200;
        rows.push({
          what: `GET /logs?limit=100 (no filter) p99 at ${N} connections (c=4), ${when}`,
          value: ms(pct(logsRun.lat, 99)),
          target: "≤ 250 ms, 200",
          pass: logsOk && pct(logsRun.lat, 99) <= 250,
          note: `p50 ${ms(pct(logsRun.lat, 50))}; ${statusText(logsRun.statuses)}`,
        });
        const filtered = await timed(
          100,
          4,
          async (i) => (await call("GET", `/logs?limit=50&status=success&type=proxy&connection_id=c${(i * 31) % N}`)).status,
        );
        rows.push({
          what: `GET /logs?type=proxy&status=success&connection_id=… p99 (c=4), ${when}`,
          value: ms(pct(filtered.lat, 99)),
          note: `p50 ${ms(pct(filtered.lat, 50))}; ${statusText(filtered.statuses)}`,
        });
        // The overview's own reads, each timed inside terapi (its Server-Timing header), and workerd's CPU per view.
        const reads = new Map<string, number[]>();
        const dashCpu = cpuMs(t.pids());
        const dash = await timed(60, 4, async () => {
          const r = await call("GET", "/dashboard");
          for (const m of (r.headers.get("server-timing") ?? "").matchAll(/([\w-]+);dur=([\d.]+)/g))
            reads.set(m[1]!, [...(reads.get(m[1]!) ?? []), Number(m[2])]);
          return r.status;
        });
        const cpuPerView = (cpuMs(t.pids()) - dashCpu) / 60;
        const dashOk = (dash.statuses.get(200) ?? 0) === 60;
        rows.push({
          what: `GET /dashboard p99 at ${N} connections (c=4), ${when}`,
          value: ms(pct(dash.lat, 99)),
          target: "≤ 250 ms, 200",
          pass: dashOk && pct(dash.lat, 99) <= 250,
          note: `p50 ${ms(pct(dash.lat, 50))}; ${statusText(dash.statuses)}; workerd CPU ${cpuPerView.toFixed(1)} ms per view`,
        });
        for (const [name, xs] of reads) rows.push({ what: `  its read '${name}' (Server-Timing) p99`, value: ms(pct(xs, 99)), note: `p50 ${ms(pct(xs, 50))}` });
      };
      await measureReads("after a traffic round");

      // Index staleness: one proxied call, then how long until the environment-wide query (no pck) shows it.
      const marker = `c${N - 1}`;
      const before = await call("GET", `/logs?connection_id=${marker}&type=proxy&limit=500`);
      const countOf = (text: string) => ((JSON.parse(text) as { logs?: unknown[] }).logs ?? []).length;
      const had = before.status === 200 ? countOf(before.text) : -1;
      if (had >= 0) {
        const st = performance.now();
        await call("GET", "/proxy/v1/models", undefined, { "connection-id": marker, "provider-config-key": pck });
        let seenAfter = NaN;
        while (performance.now() - st < 20_000) {
          const r = await call("GET", `/logs?connection_id=${marker}&type=proxy&limit=500`);
          if (r.status === 200 && countOf(r.text) > had) {
            seenAfter = performance.now() - st;
            break;
          }
          await sleep(50);
        }
        rows.push({
          what: "index staleness: a proxied call until GET /logs (no integration filter) shows it",
          value: ms(seenAfter),
          target: "≤ 3 s (README)",
          pass: seenAfter <= 3_000,
        });
      } else rows.push({ what: "index staleness", value: "n/a", note: `GET /logs without the integration answered ${before.status}` });

      // 4. A second traffic round on the same storage, the reads measured while it runs (its lines and, 30 s
      // after each call, its usage land in D1 during them), then again right after it.
      if (!argv.includes("--one-round")) {
        log(`second traffic round: ${TRAFFIC} calls (c=16), the reads measured while it runs`);
        const roundCpu = cpuMs(t.pids());
        const second = proxyTraffic(16);
        await sleep(2_000);
        await measureReads("during a second traffic round (c=16)");
        const done = await second;
        rows.push({
          what: "  the second round's proxied calls/s (c=16, reads running beside them)",
          value: ((TRAFFIC / done.elapsedMs) * 1000).toFixed(0),
          note: `p99 ${ms(pct(done.lat, 99))}; ${statusText(done.statuses)}`,
        });
        await measureReads("right after the second round (its usage landing)");
        // Everything workerd did meanwhile (the calls, their log lines and usage into the index, the reads), per call:
        // the load on this shared machine moves it far less than the latencies.
        rows.push({
          what: "  workerd CPU per call of the second round (its index and usage writes and the reads included)",
          value: `${((cpuMs(t.pids()) - roundCpu) / TRAFFIC).toFixed(2)} ms`,
        });
      }
    }

    if (only !== "events") setupEnd = performance.now();
    if (only !== "reads") {
      // 4. Outgoing events: inbound webhooks on E connections, each forwarded to the receiver.
      const envSet = await call("PATCH", "/environment", { webhook_url: receiver.url });
      if (envSet.status !== 200) throw new Error(`PATCH /environment: ${envSet.status}`);
      // The first sync runs of the connections just created are set-up work: not in the measured window.
      const settled = await settle(t.pids, log, 8, 180, setupEnd + SETUP_TAIL_MS);
      log(`events: ${RATE * EVENT_S} inbound webhooks at ${RATE}/s over ${E} connections${profileEvents ? " (under the CPU profiler)" : ""}`);
      const perfFile = resolve(root, "bench/perf-events.data");
      const perf = perfEvents && t.pids()[0] !== undefined ? startPerf(t.pids()[0]!, perfFile) : null;
      const blk = await eventBlock({ origin, pck, connections: E, whsec, pids: t.pids, inspector: t.inspector }, receiver, {
        rate: RATE,
        seconds: EVENT_S,
        seqBase: 0,
        profile: profileEvents,
      });
      errors.push(...blk.errors);
      rows.push(...eventRows(blk, E, settled));
      if (blk.profile) reportProfile(blk.profile, resolve(b.dir, "index.js.map"), blk.delivered);
      if (perf) {
        await stopPerf(perf);
        process.stdout.write(
          `\n${renderPerf(`workerd over the event window (${blk.delivered} delivered)`, perfBuckets(perfFile), blk.cpuPerEvent)}\nperf data: ${perfFile}\n`,
        );
      }
    }

    mem.stop();
    const end = totalRss(t.pids()).mib;
    if (end === 0) errors.push(`workerd is gone; its last output:\n${t.tail()}`);
    rows.push({
      what: "workerd RSS: idle / after creates / peak / end",
      value: `${idle.toFixed(0)} / ${afterCreates.toFixed(0)} / ${Math.max(mem.peak(), end).toFixed(0)} / ${end.toFixed(0)} MiB`,
    });
  } catch (err) {
    errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
    const tail = terapi?.tail();
    if (tail) errors.push(`terapi output:\n${tail}`);
  } finally {
    await terapi?.stop().catch(() => undefined);
    await sim?.stop().catch(() => undefined);
    await receiver.stop();
    await stopAllChildren();
  }

  const width = Math.max(...rows.map((r) => r.what.length));
  const title = `terapi at scale — ${source.label}, ${N} connections, workerd via Miniflare, ${os.cpus().length} cores (shared, loaded machine), ${new Date().toISOString()}`;
  const lines = [
    title,
    "",
    ...rows.map(
      (r) =>
        `${r.what.padEnd(width)}  ${r.value.padStart(12)}${r.target ? `  [${r.target}: ${r.pass ? "PASS" : "FAIL"}]` : ""}${r.note ? `  (${r.note})` : ""}`,
    ),
  ];
  process.stdout.write(`\n${lines.join("\n")}\n`);
  if (errors.length) process.stdout.write(`\nERRORS:\n${errors.map((e) => `- ${e}`).join("\n")}\n`);
  const out = resolve(root, "bench/scale-results.json");
  writeFileSync(
    out,
    `${JSON.stringify({ source: source.label, connections: N, event_connections: E, rate: RATE, rows, errors, at: new Date().toISOString() }, null, 2)}\n`,
  );
  rmSync(tmp, { recursive: true, force: true });
  return errors.length ? 1 : 0;
}

/**
 * `--compare=<commit>`: the outgoing events of that commit ("before") and of HEAD or the working tree ("after"),
 * each on its own workerd with its own E connections, created at the same time; then event blocks alternate
 * between the two (the order swapped every round), so the machine's load weighs on both alike. CPU per event is
 * the figure to read; lag and delivered/s are printed beside it.
 */
async function runEventsCompare(before: string): Promise<number> {
  const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-scale-"));
  const receiver = await startReceiverProcess(root, await freePort());
  process.on("exit", killAllChildrenSync);
  const sources = [sourceAt(root, before, resolve(tmp, "before", "src")), prepareSource(root, resolve(tmp, "after"), argv.includes("--working-tree"))];
  const lines: string[] = [];
  let sim: Simulator | undefined;
  const sides: { label: string; t: RunningTerapi; whsec: string; blocks: BlockResult[] }[] = [];
  try {
    sim = await startSimulator(sources[1]!.dir, log);
    const s = sim;
    const simKey = await s.createKey({ requests: { limit: 1_000_000_000, window_ms: 60_000 }, tokens: { limit: 1_000_000_000_000, window_ms: 60_000 } });
    const bundles = await Promise.all(sources.map((src, i) => bundle(src.dir, resolve(tmp, `b${i}`))));
    await Promise.all(
      sources.map(async (src, i) => {
        const secrets = newSecrets();
        const t = await startMiniflare({ root: src.dir, bundleDir: bundles[i]!.dir, simUrl: s.url, secrets, directSocket: true });
        const whsec = `whsec_${randomBytes(32).toString("base64")}`;
        const call = async (method: string, path: string, body: unknown) => {
          const res = await fetch(`${t.origin}${path}`, {
            method,
            headers: { authorization: `Bearer ${secrets.secretKey}`, "content-type": "application/json" },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(60_000),
          });
          return { status: res.status, text: await res.text() };
        };
        const r0 = await call("POST", "/integrations", { unique_key: "openai-scale", provider: "openai" });
        if (r0.status >= 300) throw new Error(`${src.label}: integration: ${r0.status} ${r0.text}`);
        log(`${src.label}: creating ${E} connections`);
        const created = await timed(E, 16, async (k) => {
          const r = await call("POST", "/connections", {
            provider_config_key: "openai-scale",
            connection_id: `c${k}`,
            credentials: { type: "API_KEY", apiKey: simKey },
            connection_config: { webhook_secret: whsec },
          });
          if (r.status >= 300 && errors.length < 5) errors.push(`${src.label}: create c${k}: ${r.status} ${r.text.slice(0, 200)}`);
          return r.status;
        });
        log(`${src.label}: created in ${(created.elapsedMs / 1000).toFixed(1)} s`);
        const envSet = await call("PATCH", "/environment", { webhook_url: receiver.url });
        if (envSet.status !== 200) throw new Error(`${src.label}: PATCH /environment: ${envSet.status}`);
        sides[i] = { label: src.label, t, whsec, blocks: [] };
      }),
    );
    const setupEnd = performance.now();
    for (const side of sides) await settle(side.t.pids, (m) => log(`${side.label}: ${m}`), 8, 180, setupEnd + SETUP_TAIL_MS);
    let seq = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        log(`round ${round + 1}/${ROUNDS}: ${side.label}: ${RATE * EVENT_S} inbound webhooks at ${RATE}/s over ${E} connections`);
        const blk = await eventBlock({ origin: side.t.origin, pck: "openai-scale", connections: E, whsec: side.whsec, pids: side.t.pids }, receiver, {
          rate: RATE,
          seconds: EVENT_S,
          seqBase: seq,
        });
        seq += blk.sent;
        errors.push(...blk.errors);
        side.blocks.push(blk);
        log(
          `  CPU ${blk.cpuPerEvent.toFixed(2)} ms/event; lag p50 ${ms(pct(blk.lags, 50))} p99 ${ms(pct(blk.lags, 99))}; ${blk.delivered}/${blk.sent} delivered, lost ${blk.lost}, wrong ${blk.wrong}, dupes ${blk.dupes}`,
        );
        // What a block left behind (retries, index flushes) is not the next block's.
        await settle(side.t.pids, () => undefined, 8, 30);
      }
    }
    const load = os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ");
    lines.push(
      `terapi outgoing events, interleaved — ${E} connections each, ${RATE}/s for ${EVENT_S} s per block, ${ROUNDS} rounds, ${os.cpus().length} cores (shared), load average ${load}, ${new Date().toISOString()}`,
      "",
      `${"".padEnd(22)}${"CPU ms/event (each block)".padEnd(34)}${"median".padEnd(10)}${"events/s/core".padEnd(15)}${"lag p50 / p99 (all blocks)".padEnd(30)}lost / wrong / dupes`,
    );
    for (const side of sides) {
      const cpus = side.blocks.map((b) => b.cpuPerEvent);
      const med = pct(cpus, 50);
      const lags = side.blocks.flatMap((b) => b.lags);
      const sum = (f: (b: BlockResult) => number) => side.blocks.reduce((n, b) => n + f(b), 0);
      lines.push(
        `${side.label.slice(0, 21).padEnd(22)}${cpus
          .map((c) => c.toFixed(2))
          .join(" ")
          .padEnd(
            34,
          )}${med.toFixed(2).padEnd(10)}${(1000 / med).toFixed(0).padEnd(15)}${`${ms(pct(lags, 50))} / ${ms(pct(lags, 99))}`.padEnd(30)}${sum((b) => b.lost)} / ${sum((b) => b.wrong)} / ${sum((b) => b.dupes)}`,
      );
    }
  } catch (err) {
    errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    for (const side of sides) await side?.t.stop().catch(() => undefined);
    await sim?.stop().catch(() => undefined);
    await receiver.stop();
    await stopAllChildren();
  }
  process.stdout.write(`\n${lines.join("\n")}\n`);
  if (errors.length) process.stdout.write(`\nERRORS:\n${errors.map((e) => `- ${e}`).join("\n")}\n`);
  rmSync(tmp, { recursive: true, force: true });
  return errors.length ? 1 : 0;
}
