// (e) Syncs: a simulator tenant with 50,000 files.
//   - the first full sync (starts when the connection is created): records/s,
//   - a re-run after 1% of the files changed: wall time, and rows written
//     (should be ≈ the 500 changed, not 50,000),
//   - paging every record through GET /records?limit=1000: records/s.
// No direct equivalent: `direct` is null.
import { jsonCall } from "../../scripts/lib/json-call.ts";
import { sleep } from "../../scripts/lib/procs.ts";
import type { Row, Scenario } from "../lib/types.ts";

const FILES = 50_000;
const CHANGED = FILES / 100;

type Status = {
  status: string;
  latestRun: { id: string | null; status: string | null; pages: number; records_seen: number; rows_written: number; duration_ms: number | null } | null;
  lastError: string | null;
};

export const syncScenario: Scenario = {
  id: "e",
  title: "e. sync 50,000 files",
  modes: ["miniflare"],
  // Seeding 50,000 files and three runs take ~5 s here; the reservation leaves room for a slower machine.
  budgetMs: () => 30_000,
  async run(ctx) {
    const auth = { authorization: `Bearer ${ctx.secretKey}` };
    const probe = await fetch(
      `${ctx.terapiOrigin}/sync/status?provider_config_key=${encodeURIComponent(ctx.integration)}&connection_id=${encodeURIComponent(ctx.connectionId)}`,
      {
        headers: auth,
        signal: AbortSignal.timeout(5_000),
      },
    );
    await probe.body?.cancel();
    if (probe.status === 404 || probe.status === 405) return { rows: [], errors: [], skipped: "terapi has no sync API (GET /sync/status → 404)" };

    const big = { limit: 1_000_000, window_ms: 60_000 };
    const key = await ctx.sim.createKey({ requests: big, tokens: big });
    await jsonCall("POST", `${ctx.sim.url}/__sim/seed`, {}, { key, files: FILES });
    const connectionId = `bench-sync-${Date.now().toString(36)}`;
    const statusUrl = `${ctx.terapiOrigin}/sync/status?provider_config_key=${encodeURIComponent(ctx.integration)}&connection_id=${connectionId}&syncs=files`;
    const status = async () => (await jsonCall<{ syncs: Status[] }>("GET", statusUrl, auth)).json.syncs[0];
    /** Polls until a run other than `previous` has ended. */
    const finished = async (previous: string | null) => {
      for (;;) {
        if (performance.now() > ctx.deadline) throw new Error("deadline reached while waiting for the sync");
        const s = await status();
        if (s && s.status !== "RUNNING" && s.latestRun && s.latestRun.id !== previous) return s;
        await sleep(50);
      }
    };

    const errors: string[] = [];
    const rows: Row[] = [];
    // The first run starts when the connection is created.
    const t0 = performance.now();
    await ctx.createConnection(connectionId, key);
    const first = await finished(null);
    const firstWall = (performance.now() - t0) / 1000;
    if (first.latestRun?.status !== "SUCCESS" || first.latestRun.records_seen !== FILES) errors.push(`first sync: ${JSON.stringify(first)}`);
    const firstRun = first.latestRun;
    rows.push({
      scenario: "e. sync",
      metric: `first full sync, ${FILES.toLocaleString("en")} files`,
      unit: "records/s",
      direct: null,
      terapi: firstRun?.duration_ms ? Math.round((firstRun.records_seen / firstRun.duration_ms) * 1000) : null,
      compare: "none",
      note: `run ${((firstRun?.duration_ms ?? 0) / 1000).toFixed(1)} s, ${firstRun?.pages} pages; ${firstWall.toFixed(1)} s from POST /connections`,
    });

    await jsonCall("POST", `${ctx.sim.url}/__sim/mutate`, {}, { key, model: "files", update: CHANGED });
    const t1 = performance.now();
    await jsonCall("POST", `${ctx.terapiOrigin}/sync/trigger`, auth, { syncs: ["files"], provider_config_key: ctx.integration, connection_id: connectionId });
    const second = await finished(firstRun?.id ?? null);
    const secondWall = (performance.now() - t1) / 1000;
    const run2 = second.latestRun;
    if (run2?.status !== "SUCCESS") errors.push(`re-run: ${JSON.stringify(second)}`);
    rows.push({
      scenario: "e. sync",
      metric: "re-run after 1% changed (trigger → done)",
      unit: "s",
      direct: null,
      terapi: Number(secondWall.toFixed(2)),
      compare: "none",
      note: `run ${((run2?.duration_ms ?? 0) / 1000).toFixed(1)} s, ${run2?.duration_ms ? Math.round((run2.records_seen / run2.duration_ms) * 1000) : "?"} records/s`,
    });
    rows.push({
      scenario: "e. sync",
      metric: `rows written by the re-run (${CHANGED} changed)`,
      unit: "count",
      direct: null,
      terapi: run2?.rows_written ?? null,
      compare: "none",
      target: { text: `≈ ${CHANGED}`, pass: run2?.rows_written === CHANGED },
    });

    const headers = { ...auth, "connection-id": connectionId, "provider-config-key": ctx.integration };
    let cursor: string | null = null;
    let total = 0;
    const t2 = performance.now();
    do {
      const res: { json: { records: unknown[]; next_cursor: string | null } } = await jsonCall(
        "GET",
        `${ctx.terapiOrigin}/records?model=files&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        headers,
      );
      total += res.json.records.length;
      cursor = res.json.next_cursor;
    } while (cursor);
    const pageS = (performance.now() - t2) / 1000;
    if (total !== FILES) errors.push(`GET /records returned ${total} records, expected ${FILES}`);
    rows.push({
      scenario: "e. sync",
      metric: "GET /records, all records at limit 1000",
      unit: "records/s",
      direct: null,
      terapi: Math.round(total / pageS),
      compare: "none",
      note: `${total} records in ${pageS.toFixed(1)} s`,
    });
    return { rows, errors, details: { first, second, records_paged: total, paging_s: pageS } };
  },
};
