import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { outboxObject } from "../../src/bindings/stubs";
import { forgetDeliveryConfig } from "../../src/webhooks/settings-cache";
import { describe, expect, it } from "vitest";
import { api } from "../harness/api";
import { createTenant, sim, simFault, simKey, simRequests } from "../harness/connections";
import {
  alarmNow,
  allRecords,
  type ApiJson,
  runPages,
  settle,
  settleAll,
  sqlOf,
  startStepwise,
  statusOf,
  stepNow,
  stubOf,
  syncNow,
  tune,
} from "../harness/sync";

/** A tenant whose first runs are over, with `batches` batches to walk in 5 pages of 100. */
async function tenantWithBatches(n = 500) {
  const key = await simKey();
  const t = await createTenant(key);
  await settleAll(t);
  await sim("POST", "/__sim/seed", { key, batches: n });
  return t;
}

const batchRequests = async (key: string) => (await simRequests(key)).filter((r) => r.path === "/v1/batches");

describe("sync runs: interruptions", () => {
  it("an upstream failure on page 3 of 5 keeps the earlier records, marks nothing deleted, and the next run completes", async () => {
    const t = await tenantWithBatches();
    await startStepwise(t, "batches");
    await stepNow(t);
    expect(await runPages(t, "batches")).toBe(2);
    await simFault({ key: t.apiKey, count: 4, status: 500, path_prefix: "/v1/batches" });
    for (let i = 0; i < 4; i++) await stepNow(t);
    const failed = await statusOf(t, "batches");
    expect(failed.status).toBe("ERROR");
    expect(failed.lastError).toMatch(/^500/);
    expect(failed.recordCount.batches).toBe(200);
    const deleted = await sqlOf<{ n: number }>(t, "SELECT COUNT(*) AS n FROM sync_records WHERE deleted_at IS NOT NULL");
    expect(deleted[0].n).toBe(0);

    await tune(t, { pagesPerAlarm: 10, sliceGapMs: 0 });
    const done = await syncNow(t, "batches");
    expect(done.status).toBe("SUCCESS");
    expect(done.recordCount.batches).toBe(500);
    expect(done.latestResult.batches).toEqual({ added: 300, updated: 0, deleted: 0 });
    // It went on from the checkpoint: page 3 onwards, not page 1 again.
    const after = (await batchRequests(t.apiKey)).slice(-3);
    for (const r of after) expect(r.query).toContain("after=");
  });

  it("an eviction between pages resumes from the checkpoint without duplicating or losing records", async () => {
    const t = await tenantWithBatches();
    await startStepwise(t, "batches");
    await stepNow(t);
    const seenBefore = (await batchRequests(t.apiKey)).length;
    await evictDurableObject(stubOf(t));
    // A new instance: default tuning; the parked slice is made due and runs to the end.
    const done = await settle(t, "batches");
    expect(done.status).toBe("SUCCESS");
    expect(done.latestResult.batches).toEqual({ added: 500, updated: 0, deleted: 0 });
    expect(done.latestRun?.pages).toBe(5);
    const resumed = (await batchRequests(t.apiKey)).slice(seenBefore);
    expect(resumed).toHaveLength(3);
    for (const r of resumed) expect(r.query).toContain("after=");
    const all = await allRecords(t, "batches");
    expect(new Set(all.map((r) => r.id)).size).toBe(500);
  });

  it("a 429 during a sync waits for the reset instead of failing the run", async () => {
    const t = await tenantWithBatches();
    await startStepwise(t, "batches");
    await simFault({ key: t.apiKey, count: 1, status: 429, path_prefix: "/v1/batches" });
    const before = Date.now();
    await stepNow(t);
    const waiting = await statusOf(t, "batches");
    expect(waiting.status).toBe("RUNNING");
    expect(waiting.lastError).toBeNull();
    // The injected 429 says "try again in 1s": the alarm is set for then.
    const alarm = await stubOf(t).alarmAt();
    expect(alarm).not.toBeNull();
    expect(alarm! - before).toBeGreaterThanOrEqual(900);
    expect(alarm! - before).toBeLessThan(5_000);
    await tune(t, { pagesPerAlarm: 10, sliceGapMs: 0 });
    await alarmNow(t); // before the reset: nothing goes upstream
    expect(await runPages(t, "batches")).toBe(1);
    await new Promise((r) => setTimeout(r, Math.max(0, alarm! - Date.now() + 50)));
    const done = await settle(t, "batches");
    expect(done.status).toBe("SUCCESS");
    expect(done.recordCount.batches).toBe(500);
  });
});

describe("sync schedules", () => {
  it("pause stops the alarm-driven runs and start resumes them", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const [files] = (await settleAll(t)).filter((s) => s.name === "files");
    const target = { syncs: ["files"], provider_config_key: t.providerConfigKey, connection_id: t.connectionId };
    expect((await api<ApiJson>("POST", "/sync/pause", target)).status).toBe(200);
    await sqlOf(t, "UPDATE sync_state SET next_run_at = ? WHERE name = 'files'", Date.now());
    await alarmNow(t);
    const paused = await statusOf(t, "files");
    expect(paused.status).toBe("PAUSED");
    expect(paused.nextScheduledSyncAt).toBeNull();
    expect(paused.latestRun?.id).toBe(files.latestRun?.id);

    expect((await api<ApiJson>("POST", "/sync/start", target)).status).toBe(200);
    const started = await statusOf(t, "files");
    expect(started.status).toBe("SUCCESS");
    expect(Date.parse(started.nextScheduledSyncAt!)).toBeLessThanOrEqual(Date.now());
    await alarmNow(t);
    const again = await settle(t, "files");
    expect(again.latestRun?.id).not.toBe(files.latestRun?.id);
  });

  it("update-connection-frequency parses schedules and refuses ones under 30 s", async () => {
    const t = await createTenant(await simKey());
    const body = (frequency: string | null) => ({ sync_name: "files", provider_config_key: t.providerConfigKey, connection_id: t.connectionId, frequency });
    const ok = await api<ApiJson>("PUT", "/sync/update-connection-frequency", body("every 5 minutes"));
    expect({ status: ok.status, body: ok.body }).toEqual({ status: 200, body: { frequency: "every 5 minutes" } });
    expect((await statusOf(t, "files")).frequency).toBe("every 5 minutes");
    const low = await api<ApiJson>("PUT", "/sync/update-connection-frequency", body("every 10s"));
    expect(low.status).toBe(400);
    expect(low.body.error.code).toBe("invalid_frequency");
    expect((await api<ApiJson>("PUT", "/sync/update-connection-frequency", body(null))).body).toEqual({ frequency: "every hour" });
    const unknown = await api<ApiJson>("PUT", "/sync/update-connection-frequency", { ...body("every 1h"), sync_name: "nope" });
    expect(unknown.body.error.code).toBe("unknown_sync");
  });

  it("a frequency over a year is a 400 naming the field, and a stored out-of-range schedule never breaks /sync/status", async () => {
    const t = await createTenant(await simKey());
    const body = (frequency: string) => ({ sync_name: "files", provider_config_key: t.providerConfigKey, connection_id: t.connectionId, frequency });
    const huge = await api<ApiJson>("PUT", "/sync/update-connection-frequency", body("every 99999999999 weeks"));
    expect(huge.status).toBe(400);
    expect(huge.body.error).toEqual({
      code: "invalid_frequency",
      message: "frequency: 'every 99999999999 weeks' is not a schedule like 'every 5 minutes', 'every 30s', 'every 1h' (minimum 30 seconds, maximum 365 days)",
    });
    expect((await api<ApiJson>("PUT", "/sync/update-connection-frequency", body("every 366 days"))).status).toBe(400);
    expect((await api<ApiJson>("PUT", "/sync/update-connection-frequency", body("every 52 weeks"))).status).toBe(200);
    // A row written before the bound existed: a schedule whose next run is no valid Date.
    await sqlOf(t, "UPDATE sync_state SET frequency = 'every 99999999999 weeks', frequency_ms = 6.048e19, next_run_at = 6.048e19 WHERE name = 'files'");
    const one = await api<ApiJson>("GET", `/sync/status?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&syncs=files`);
    expect(one.status).toBe(200);
    expect(one.body.syncs[0]).toMatchObject({ name: "files", frequency: "every 99999999999 weeks", nextScheduledSyncAt: null });
    const all = await api<ApiJson>("GET", `/sync/status?provider_config_key=${t.providerConfigKey}`);
    expect(all.status).toBe(200);
    // The next run after such a run is scheduled within the bound, not at an invalid time.
    const done = await syncNow(t, "files");
    expect(done.status).toBe("SUCCESS");
    expect(Date.parse(done.nextScheduledSyncAt!)).toBeLessThanOrEqual(Date.now() + 366 * 86_400_000);
  });
});

describe("admin syncs", () => {
  it("projects, users and daily costs on an sk-admin- connection", async () => {
    const key = await simKey({ kind: "admin" });
    expect(key.startsWith("sk-admin-")).toBe(true);
    await sim("POST", "/__sim/seed", { key, projects: 3, users: 2, cost_days: 5 });
    const t = await createTenant(key);
    const all = await settleAll(t);
    expect(all.map((s) => s.name).sort()).toEqual(["costs", "projects", "users"]);
    for (const s of all) expect(s.status).toBe("SUCCESS");
    expect((await allRecords(t, "projects")).length).toBe(4);
    expect((await allRecords(t, "users")).length).toBe(3);
    const costs = await allRecords(t, "costs");
    expect(costs.length).toBeGreaterThanOrEqual(30);
    for (const c of costs) expect(c.id).toBeUndefined(); // a bucket has no id field: its start_time is the record id
    expect(new Set(costs.map((c) => c.start_time)).size).toBe(costs.length);
    const wrong = await api<ApiJson>("GET", "/records?model=files", undefined, t.headers);
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe("unknown_model");
  });
});

describe("connection deletion", () => {
  it("removes the records and stops the syncs", async () => {
    const key = await simKey();
    await sim("POST", "/__sim/seed", { key, files: 5 });
    const t = await createTenant(key);
    await settleAll(t);
    expect((await allRecords(t, "files")).length).toBe(5);
    const del = await api<ApiJson>("DELETE", `/connections/${t.connectionId}?provider_config_key=${t.providerConfigKey}`);
    expect(del.status).toBe(204);
    expect(await stubOf(t).alarmAt()).toBeNull();
    const rows = await sqlOf<{ name: string }>(t, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sync_%'");
    // Nothing of the old connection is left; the object starts over (its change counter back at zero).
    for (const { name } of rows) {
      const query = name === "sync_seq" ? "SELECT COALESCE(MAX(seq), 0) AS n FROM sync_seq" : `SELECT COUNT(*) AS n FROM ${name}`;
      expect((await sqlOf<{ n: number }>(t, query))[0].n, name).toBe(0);
    }
    const gone = await api<ApiJson>("GET", "/records?model=files", undefined, t.headers);
    expect(gone.status).toBe(404);
  });
});

describe("sync runs: operation log", () => {
  type Line = { type: string; status: string; detail: string | null };
  const syncLines = async (t: Awaited<ReturnType<typeof createTenant>>, name: string) => {
    const res = await api("GET", `/logs?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&type=sync&limit=100`);
    expect(res.status).toBe(200);
    return (res.body.logs as Line[]).filter((l) => l.detail?.startsWith(`${name}:`));
  };

  it("every finished run writes its line, also a run that changed nothing (no webhook goes out for it)", async () => {
    const t = await tenantWithBatches(3);
    // The first run of each sync found its data: one line each.
    expect(await syncLines(t, "batches")).toEqual([expect.objectContaining({ status: "success", detail: "batches: +0 ~0 -0" })]);
    const changed = await syncNow(t, "batches");
    expect(changed.latestResult.batches).toEqual({ added: 3, updated: 0, deleted: 0 });
    const unchanged = await syncNow(t, "batches");
    expect(unchanged.status).toBe("SUCCESS");
    expect(unchanged.latestResult.batches).toEqual({ added: 0, updated: 0, deleted: 0 });
    const lines = await syncLines(t, "batches");
    expect(lines.map((l) => [l.status, l.detail])).toEqual([
      ["success", "batches: +0 ~0 -0"],
      ["success", "batches: +3 ~0 -0"],
      ["success", "batches: +0 ~0 -0"],
    ]);
  });

  it("a run whose sync event cannot be stored still writes its line", async () => {
    const t = await tenantWithBatches(3);
    // The environment's settings cannot be read: storing any outgoing event fails.
    const syncEvents = async () => (await sqlOf<{ n: number }>(t, "SELECT COUNT(*) AS n FROM events WHERE type = 'sync'"))[0].n;
    const eventsBefore = await syncEvents();
    const outbox = outboxObject(env);
    await runInDurableObject(outbox, (_o, state) => void state.storage.sql.exec("ALTER TABLE settings RENAME TO settings_away"));
    forgetDeliveryConfig();
    try {
      const done = await syncNow(t, "batches");
      expect(done.latestResult.batches).toEqual({ added: 3, updated: 0, deleted: 0 });
      expect(await syncEvents()).toBe(eventsBefore);
    } finally {
      await runInDurableObject(outbox, (_o, state) => void state.storage.sql.exec("ALTER TABLE settings_away RENAME TO settings"));
      forgetDeliveryConfig();
    }
    const [last] = await syncLines(t, "batches");
    expect(last).toEqual(expect.objectContaining({ status: "success", detail: "batches: +3 ~0 -0" }));
  });

  it("a failed run writes a failure line naming the error", async () => {
    const t = await tenantWithBatches(3);
    await tune(t, { backoffAttempts: 0 });
    await simFault({ key: t.apiKey, count: 1, status: 400, path_prefix: "/v1/batches" });
    const failed = await syncNow(t, "batches");
    expect(failed.status).toBe("ERROR");
    const [last] = await syncLines(t, "batches");
    expect(last).toEqual(expect.objectContaining({ type: "sync", status: "failure" }));
    expect(last.detail).toMatch(/^batches: \+0 ~0 -0 \(400/);
  });
});
