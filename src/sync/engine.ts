import { logUnhandled } from "../error-log";
import type { RateLimiter } from "../proxy/rate-limiter";
import { randomHex } from "../crypto/random";
import { sha256Hex } from "../crypto/sha256";
import { attemptUpstream } from "../proxy/upstream-attempt";
import type { UsageSample } from "../usage/types";
import type { OperationInput } from "../logs/types";
import { getProvider, providerBaseUrl } from "../providers/catalog";
import type { ProviderDefinition, SyncDefinition } from "../providers/types";
import { authHeadersFor } from "../proxy/headers";
import { backoffDelayMs } from "../proxy/retry-policy";
import { sendUpstream } from "../proxy/upstream";
import { type ConnectionSecret, loadConnectionSecret } from "../store/connection-secret";
import { syncsFor } from "./definitions";
import { emitSyncEvent } from "./events";
import { boundedFrequency, parseFrequency } from "./frequency";
import { createRecordStore, type RecordQuery, type StoredRecord } from "./records";
import { type Checkpoint, createSyncStateStore, type SyncRow } from "./state";
import { canonicalJson, firstQuery, itemId, nextCursor, pageItems, pageUrl } from "./walk";

/** How much one alarm invocation does before handing back (it re-arms at once if work is left). */
type SyncTuning = { pagesPerAlarm: number; msPerAlarm: number; sliceGapMs: number; backoffAttempts: number; pageTimeoutMs: number };
const DEFAULT_TUNING: SyncTuning = { pagesPerAlarm: 10, msPerAlarm: 15_000, sliceGapMs: 0, backoffAttempts: 3, pageTimeoutMs: 60_000 };

export type SyncContext = { providerConfigKey: string; connectionId: string; provider: string };
/** A connection and every sync it can run (see `syncsFor`). */
export type SyncTarget = SyncContext & { syncs: string[] };

export type SyncStatus = {
  /** Nango's: identifies the sync of this connection. */
  id: string;
  name: string;
  /** Nango's (deprecated there): terapi's runs always walk the whole list. */
  type: "INCREMENTAL";
  /** Nango's: terapi's checkpoints are internal to a run. */
  checkpoint: null;
  connection_id: string;
  status: "RUNNING" | "PAUSED" | "STOPPED" | "SUCCESS" | "ERROR";
  frequency: string;
  startedAt: string | null;
  finishedAt: string | null;
  nextScheduledSyncAt: string | null;
  latestResult: Record<string, { added: number; updated: number; deleted: number }>;
  recordCount: Record<string, number>;
  lastError: string | null;
  latestRun: {
    id: string | null;
    status: "SUCCESS" | "ERROR" | null;
    pages: number;
    records_seen: number;
    rows_written: number;
    duration_ms: number | null;
  } | null;
};

/** A stored time as ISO 8601; null when there is none or it is no valid date (a status never fails on one bad row). */
const iso = (ms: number | null) => {
  const d = ms === null ? null : new Date(ms);
  return d === null || Number.isNaN(d.getTime()) ? null : d.toISOString();
};
const randomId = () => `run_${randomHex(10)}`;

type Deps = {
  sql: SqlStorage;
  /** The object's `storage.transactionSync`. */
  transaction: (fn: () => void) => void;
  env: Env;
  limiter: RateLimiter;
  now?: () => number;
  /** Counts each page fetched toward the connection's usage (tagged `sync`). */
  countUsage?: (sample: UsageSample) => void;
  /** Writes a line to the connection's operation log (the object's own store: no round trip). */
  log?: (line: OperationInput) => void;
};

/**
 * The connection's syncs, run on its object's alarm: each run walks the whole
 * list page by page through the connection's rate limiter, stores what
 * changed, checkpoints after every page, and after a complete walk marks what
 * it did not see as deleted.
 */
export function createSyncEngine({ sql, transaction, env, limiter, now = () => Date.now(), countUsage, log }: Deps) {
  const records = createRecordStore(sql);
  const state = createSyncStateStore(sql);
  const tuning: SyncTuning = { ...DEFAULT_TUNING };
  /** Bumped by `stop()`: a run in flight from before never writes again. */
  let epoch = 0;
  /** The connection was deleted: this engine (over its wiped tables) never runs or schedules again. */
  let stopped = false;

  function context(): SyncContext | null {
    const meta = state.meta();
    const providerConfigKey = meta.get("provider_config_key");
    const connectionId = meta.get("connection_id");
    const provider = meta.get("provider");
    return providerConfigKey && connectionId && provider ? { providerConfigKey, connectionId, provider } : null;
  }

  /** Registers the connection's syncs (keeping existing schedules); new ones are due at `firstRunAt`. */
  function register(target: SyncTarget, firstRunAt: number): void {
    const { syncs, ...ctx } = target;
    state.setMeta({ provider_config_key: ctx.providerConfigKey, connection_id: ctx.connectionId, provider: ctx.provider });
    const defs = (getProvider(ctx.provider)?.syncs ?? []).filter((d) => syncs.includes(d.name));
    state.ensure(
      defs.map((d) => ({ name: d.name, model: d.model, frequency: d.frequency, frequencyMs: parseFrequency(d.frequency) ?? 3_600_000 })),
      firstRunAt,
    );
  }

  function statusOf(r: SyncRow, connectionId: string): SyncStatus {
    const running = r.run_id !== null && !r.run_failed;
    // STOPPED: has not run yet (or nothing is scheduled).
    const status: SyncStatus["status"] = r.paused && !(running && r.forced) ? "PAUSED" : running ? "RUNNING" : (r.last_status ?? "STOPPED");
    return {
      id: `${connectionId}:${r.name}`,
      name: r.name,
      type: "INCREMENTAL",
      checkpoint: null,
      connection_id: connectionId,
      status,
      frequency: r.frequency,
      startedAt: iso(running ? r.run_started_at : r.last_started_at),
      finishedAt: iso(running ? null : r.last_finished_at),
      nextScheduledSyncAt: iso(state.dueAt(r)),
      latestResult: r.last_status === null ? {} : { [r.model]: { added: r.last_added, updated: r.last_updated, deleted: r.last_deleted } },
      recordCount: { [r.model]: records.count(r.model) },
      lastError: r.last_error,
      latestRun:
        r.last_status === null
          ? null
          : {
              id: r.last_run_id,
              status: r.last_status,
              pages: r.last_pages,
              records_seen: r.last_seen,
              rows_written: r.last_rows,
              duration_ms: r.last_started_at !== null && r.last_finished_at !== null ? r.last_finished_at - r.last_started_at : null,
            },
    };
  }

  /** Ends the run: its counts become the latest result, and the user hears about it. */
  async function finish(ctx: SyncContext, name: string, error: string | null): Promise<void> {
    const r = state.get(name);
    if (!r || r.run_id === null) return;
    const t = now();
    // The next run counts from this one's start; a failed run resumes from its checkpoint then.
    const nextRunAt = Math.max((r.run_started_at ?? t) + boundedFrequency(r.frequency_ms), error ? t + 30_000 : t);
    state.finish(name, error ? "ERROR" : "SUCCESS", error, t, nextRunAt);
    if (!error) records.forgetRun(r.run_id);
    const done = state.get(name);
    if (!done) return;
    // Every finished run has its line in the connection's log, whatever happens to its webhook.
    const started = r.run_started_at ?? t;
    log?.({
      provider_config_key: ctx.providerConfigKey,
      connection_id: ctx.connectionId,
      type: "sync",
      status: error ? "failure" : "success",
      duration_ms: Math.max(0, t - started),
      started_at: started,
      detail: `${name}: +${done.last_added} ~${done.last_updated} -${done.last_deleted}${error ? ` (${error})` : ""}`,
    });
    // Like Nango: a run that changed nothing is not worth a webhook; a failure always is.
    if (!error && done.last_added + done.last_updated + done.last_deleted === 0) return;
    // An event that cannot be stored must not undo the run.
    await emitSyncEvent(env, ctx, {
      sync_name: name,
      model: done.model,
      run_id: r.run_id,
      success: !error,
      added: done.last_added,
      updated: done.last_updated,
      deleted: done.last_deleted,
      modified_after: iso(done.last_started_at),
      ...(error ? { error } : {}),
    }).catch((err: unknown) => logUnhandled("sync event not enqueued", err, { fields: { sync: name } }));
  }

  type Budget = { pages: number; until: number };
  type Step = "continue" | "yield";

  /** One page of one run: fetch, store, checkpoint. Anything that must wait sets the run's due time. */
  async function step(
    ctx: SyncContext,
    def: SyncDefinition,
    provider: ProviderDefinition,
    secret: ConnectionSecret,
    runId: string,
    myEpoch: number,
  ): Promise<Step> {
    const r = state.get(def.name);
    if (!r || r.run_id !== runId || !r.run_checkpoint || (r.paused && !r.forced)) return "yield";
    const cp = JSON.parse(r.run_checkpoint) as Checkpoint;
    // Still this run at this page: not destroyed, reset, or moved on by another invocation meanwhile.
    const alive = () => {
      const cur = state.get(def.name);
      return epoch === myEpoch && cur?.run_id === runId && cur.run_checkpoint === r.run_checkpoint;
    };

    const url = pageUrl(def, providerBaseUrl(provider, env), cp);
    const headers = new Headers({ accept: "application/json", ...authHeadersFor(provider, secret) });
    const backoff = { allowed: r.run_attempts < tuning.backoffAttempts, at: () => now() + backoffDelayMs(r.run_attempts, provider.retry) };
    const outcome = await attemptUpstream({
      limiter,
      provider,
      now,
      request: { path: def.endpoint.split("?", 1)[0]!, method: "GET", body: null },
      send: () => sendUpstream(url, { method: "GET", headers, body: null, timeoutMs: tuning.pageTimeoutMs }),
      // A rate limit never fails a run: it sleeps until the reset and goes on from the same page.
      backoff,
    });
    const failed = async (error: string) => {
      if (alive()) await finish(ctx, def.name, error);
      return "yield" as const;
    };
    if (outcome.kind === "wait") {
      if (outcome.status !== null)
        countUsage?.({ at: now(), model: "none", source: "sync", error: true, estimated: false, input: 0, cachedInput: 0, output: 0, reasoning: 0 });
      if (alive()) state.waitRun(def.name, outcome.at, outcome.backoff);
      return "yield";
    }
    if (outcome.kind === "unreachable") {
      const err = outcome.error;
      return failed(err instanceof Error && "code" in err ? String(err.code) : "upstream_unreachable");
    }
    const res = outcome.res;
    const t = now();
    countUsage?.({ at: t, model: "none", source: "sync", error: res.status >= 400, estimated: false, input: 0, cachedInput: 0, output: 0, reasoning: 0 });
    if (res.status >= 400) {
      await res.body?.cancel();
      const info = outcome.info ?? {};
      return failed(`${res.status} ${info.code ?? info.type ?? ""}: ${info.message ?? "upstream error"}`.replace(/ :/, ":"));
    }

    let body: unknown;
    try {
      body = await res.json();
    } catch {
      if (!backoff.allowed) return failed("invalid_json: the list response is not JSON");
      if (alive()) state.waitRun(def.name, backoff.at(), true);
      return "yield";
    }
    const items = pageItems(def, body);
    if (items === null) {
      if (alive()) await finish(ctx, def.name, `unexpected_response: no '${def.dataField}' list in the response`);
      return "yield";
    }
    const incoming: { id: string; json: string; hash: string }[] = [];
    for (const item of items) {
      const id = itemId(def, item);
      if (id === null) continue;
      incoming.push({ id, json: JSON.stringify(item), hash: await sha256Hex(canonicalJson(item)) });
    }
    const next = nextCursor(def, body, items);
    if (next !== null && next === cp.next) {
      if (alive()) await finish(ctx, def.name, "pagination_stalled: the provider returned the same cursor twice");
      return "yield";
    }
    // Nothing past an await is trusted: the connection may be gone, or the run reset meanwhile.
    if (!alive()) return "yield";
    const last = next === null;
    // An empty page after a cursor can mean the cursor's item vanished mid-walk: not proof of the end.
    const unsure = cp.next !== null && items.length === 0;
    const counts = { added: 0, updated: 0, deleted: 0, rowsWritten: 0, seen: incoming.length, pages: 1 };
    // The page's records and the checkpoint move together, or not at all.
    transaction(() => {
      const applied = records.applyPage(def.model, runId, cp.page, incoming, t);
      counts.added = applied.added;
      counts.updated = applied.updated;
      counts.rowsWritten = applied.rowsWritten;
      if (last && def.trackDeletes && !unsure && !r.run_unsure) {
        counts.deleted = records.sweep(def.model, runId, t);
        counts.rowsWritten += counts.deleted;
      }
      state.advance(def.name, { query: cp.query, next, page: cp.page + 1 }, counts, unsure, t);
    });
    if (last) {
      await finish(ctx, def.name, null);
      return "yield";
    }
    return "continue";
  }

  /** Runs the due syncs, each up to the alarm's page budget; returns when they are done or must wait. */
  // One pass at a time: two overlapping passes could both try the same page and
  // each count its failure from the same stale row. The runtime never overlaps
  // alarms, but alarm() is an ordinary method too (tests, a future caller).
  let passes: Promise<void> = Promise.resolve();
  function runDue(): Promise<void> {
    const pass = passes.then(runDueOnce, runDueOnce);
    passes = pass.catch(() => undefined);
    return pass;
  }

  async function runDueOnce(): Promise<void> {
    if (stopped) return;
    const ctx = context();
    if (!ctx) return;
    const myEpoch = epoch;
    const dueRows = () => {
      const t = now();
      return state.rows().filter((r) => {
        const at = state.dueAt(r);
        return at !== null && at <= t;
      });
    };
    if (dueRows().length === 0) return;
    const secret = await loadConnectionSecret(env, ctx.providerConfigKey, ctx.connectionId);
    const provider = secret ? getProvider(secret.provider) : undefined;
    if (epoch !== myEpoch) return;
    // Read again after the await: another invocation may have started runs meanwhile.
    const due = dueRows();
    const t = now();
    if (!secret || !provider) {
      // The connection is going away; try again in a while rather than spin.
      for (const r of due) state.waitRun(r.name, t + boundedFrequency(r.frequency_ms), false);
      return;
    }
    const defs = new Map(syncsFor(secret.provider, secret.credentials.apiKey).map((d) => [d.name, d]));
    const budget: Budget = { pages: tuning.pagesPerAlarm, until: t + tuning.msPerAlarm };
    for (const row of due) {
      const def = defs.get(row.name);
      if (!def) {
        state.remove(row.name);
        continue;
      }
      let r = row;
      if (r.run_id === null) {
        records.forgetOrphans();
        state.beginRun(r.name, randomId(), { query: firstQuery(def, now()), next: null, page: 0 }, now());
      } else if (r.run_failed) {
        state.resumeFailed(r.name, now());
      }
      r = state.get(r.name) ?? r;
      const runId = r.run_id;
      if (runId === null) continue;
      for (;;) {
        if (budget.pages <= 0 || now() >= budget.until) {
          // Out of budget for this invocation: the rest continues on the next alarm, right away.
          if (epoch === myEpoch && state.get(def.name)?.run_id === runId) state.waitRun(def.name, now() + tuning.sliceGapMs, false);
          break;
        }
        budget.pages--;
        const res = await step(ctx, def, provider, secret, runId, myEpoch);
        if (epoch !== myEpoch) return;
        if (res === "yield") break;
      }
    }
  }

  return {
    tuning,
    register,
    context,
    runDue,
    nextDue(): number | null {
      return stopped ? null : state.nextDue();
    },
    /** Runs the named syncs now; `reset` forgets their records and walks from scratch. */
    trigger(names: string[], reset: boolean): void {
      const t = now();
      for (const name of names) {
        const r = state.get(name);
        if (!r) continue;
        if (reset) {
          if (r.run_id) records.forgetRun(r.run_id);
          state.abandonRun(name);
          records.clearModel(r.model);
        }
        state.trigger(name, t);
      }
    },
    setPaused(names: string[], paused: boolean): void {
      for (const name of names) state.setPaused(name, paused, now());
    },
    setFrequency(name: string, frequency: string, frequencyMs: number): void {
      state.setFrequency(name, frequency, frequencyMs, now());
    },
    status(names: string[] | null, connectionId: string): SyncStatus[] {
      return state
        .rows()
        .filter((r) => names === null || names.includes(r.name))
        .map((r) => statusOf(r, connectionId));
    },
    listRecords(q: RecordQuery): { rows: StoredRecord[]; more: boolean } {
      return records.list(q);
    },
    /** Destroyed and not used since: nothing may be written or scheduled. */
    isStopped(): boolean {
      return stopped;
    },
    /** The connection is being deleted: a run in flight stops writing (the object builds a new engine over new tables). */
    stop(): void {
      epoch++;
      stopped = true;
    },
  };
}

export type SyncEngine = ReturnType<typeof createSyncEngine>;
