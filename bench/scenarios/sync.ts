// (e) Extension point for the sync figures (another issue fills this in):
//   - first full sync of 50,000 files: records/s (seed the simulator's files,
//     POST /sync/trigger {syncs:["files"], …}, poll GET /sync/status until done),
//   - a re-run after 1% of the files changed: records/s and wall time,
//   - paging GET /records?model=…&limit=1000 through all 50,000: records/s.
// Rows use unit "records/s" with `direct: null` (no direct equivalent), or a
// direct figure for the plain upstream walk of the same list if that is useful.
// Until terapi has the sync API this scenario reports itself as skipped.
import type { Scenario } from "../lib/types.ts";

export const syncScenario: Scenario = {
  id: "e",
  title: "e. sync 50,000 files",
  modes: ["miniflare"],
  budgetMs: () => 60_000,
  async run(ctx) {
    const res = await fetch(`${ctx.terapiOrigin}/sync/status?provider_config_key=${encodeURIComponent(ctx.integration)}&connection_id=${encodeURIComponent(ctx.connectionId)}`, {
      headers: { authorization: `Bearer ${ctx.secretKey}` },
      signal: AbortSignal.timeout(5_000),
    });
    await res.body?.cancel();
    if (res.status === 404 || res.status === 405) return { rows: [], errors: [], skipped: "terapi has no sync API yet (GET /sync/status → 404)" };
    return { rows: [], errors: [], skipped: "sync benchmark not written yet (bench/scenarios/sync.ts)" };
  },
};
