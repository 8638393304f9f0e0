import { env, runInDurableObject } from "cloudflare:test";
import { connectionObject } from "../../src/bindings/stubs";
import type { ConnectionObject } from "../../src/durable-objects/connection";
import type { SyncEngine } from "../../src/sync/engine";
import type { SyncStatus } from "../../src/sync/engine";
import { api, type ApiResult } from "./api";
import { waitFor } from "./wait";
import type { Tenant } from "./connections";

export const stubOf = (t: Tenant) => connectionObject(env, t.providerConfigKey, t.connectionId);

/** The sync engine's pacing, through the object's own test hook (no cast into its fields). */
export function tune(t: Tenant, tuning: Partial<SyncEngine["tuning"]>): Promise<void> {
  return runInDurableObject(stubOf(t), (inst: ConnectionObject) => inst.tuneSyncs(tuning));
}

/** One alarm invocation now, whatever time the alarm is set for (runs only syncs that are due). */
export function alarmNow(t: Tenant): Promise<void> {
  return runInDurableObject(stubOf(t), (inst: ConnectionObject) => inst.alarm());
}

/** Makes every sync's pending work due now (a parked slice, a backoff), then runs one alarm. */
export function stepNow(t: Tenant): Promise<void> {
  return runInDurableObject(stubOf(t), async (inst: ConnectionObject, state) => {
    state.storage.sql.exec("UPDATE sync_state SET run_due_at = ? WHERE run_id IS NOT NULL AND run_failed = 0", Date.now());
    await inst.alarm();
  });
}

export function sqlOf<T extends Record<string, SqlStorageValue>>(t: Tenant, query: string, ...args: SqlStorageValue[]): Promise<T[]> {
  return runInDurableObject(stubOf(t), (_inst: ConnectionObject, state) => state.storage.sql.exec<T>(query, ...args).toArray());
}

export type Status = SyncStatus;

/** The answers the sync tests read, as one loose shape (a test checks the status first): `api<ApiJson>(…)`. */
export type ApiJson = {
  records: Rec[];
  next_cursor: string | null;
  syncs: Status[];
  error: { code: string; message: string };
} & Record<string, unknown>;

export async function statusOf(t: Tenant, name: string): Promise<Status> {
  const res = await api<ApiJson>("GET", `/sync/status?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&syncs=${name}`);
  if (res.status !== 200) throw new Error(`status ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.syncs[0] as Status;
}

/** Triggers a sync and runs alarms until its run is over (at most `max` invocations). */
export async function syncNow(t: Tenant, name: string, opts: { reset?: boolean; max?: number } = {}): Promise<Status> {
  const trig = await api<ApiJson>("POST", "/sync/trigger", {
    syncs: [name],
    provider_config_key: t.providerConfigKey,
    connection_id: t.connectionId,
    opts: { reset: opts.reset },
  });
  if (trig.status !== 200) throw new Error(`trigger ${trig.status} ${JSON.stringify(trig.body)}`);
  return settle(t, name, opts.max);
}

/** Runs alarms until the sync is no longer RUNNING. */
export async function settle(t: Tenant, name: string, max = 50): Promise<Status> {
  for (let i = 0; i < max; i++) {
    await stepNow(t);
    const s = await statusOf(t, name);
    if (s.status !== "RUNNING") return s;
  }
  throw new Error(`sync ${name} still running after ${max} alarms`);
}

export type Rec = {
  id: string;
  _nango_metadata: { first_seen_at: string; last_modified_at: string; last_action: string; deleted_at: string | null; cursor: string };
} & Record<string, unknown>;

export async function records(t: Tenant, query: string): Promise<ApiResult<ApiJson>> {
  return api<ApiJson>("GET", `/records?${query}`, undefined, t.headers);
}

/** Every record of a model, paging at `limit`. */
export async function allRecords(t: Tenant, model: string, extra = "", limit = 1000): Promise<Rec[]> {
  const out: Rec[] = [];
  let cursor: string | null = null;
  do {
    const res = await records(t, `model=${model}&limit=${limit}${extra}${cursor ? `&cursor=${cursor}` : ""}`);
    if (res.status !== 200) throw new Error(`records ${res.status} ${JSON.stringify(res.body)}`);
    out.push(...(res.body.records as Rec[]));
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

/** Runs alarms until every sync of the tenant has finished a run (the first runs start at creation). */
export async function settleAll(t: Tenant, max = 50): Promise<Status[]> {
  for (let i = 0; i < max; i++) {
    const res = await api<ApiJson>("GET", `/sync/status?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}`);
    const all = res.body.syncs as Status[];
    if (all.length > 0 && all.every((s) => s.status !== "RUNNING" && s.status !== "STOPPED")) return all;
    await stepNow(t);
  }
  throw new Error("syncs did not settle");
}

export const runPages = async (t: Tenant, name: string) =>
  (await sqlOf<{ run_pages: number }>(t, "SELECT run_pages FROM sync_state WHERE name = ?", name))[0]?.run_pages ?? 0;

/** Triggers `name` with one page per alarm (slices parked far away, so only the test moves it) and waits for page 1. */
export async function startStepwise(t: Tenant, name: string): Promise<void> {
  await tune(t, { pagesPerAlarm: 1, sliceGapMs: 600_000 });
  const trig = await api<ApiJson>("POST", "/sync/trigger", { syncs: [name], provider_config_key: t.providerConfigKey, connection_id: t.connectionId });
  if (trig.status !== 200) throw new Error(`trigger ${trig.status}`);
  await alarmNow(t);
  await waitFor(async () => (await runPages(t, name)) >= 1, "page 1");
}
