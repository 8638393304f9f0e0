import { DurableObject } from "cloudflare:workers";
import { durableObjectName, logUnhandled } from "../error-log";
import type { RateObservation } from "../proxy/observation";
import { actionRunView, type ActionRunView } from "../actions/job";
import { runJobs } from "../jobs/run";
import { createIdentity, type Identity } from "./identity";
import { jobView, type JobView } from "../proxy/async";
import { createJobStore, type JobStore, type NewJob } from "../jobs/store";
import { type BucketState, type Grant, RateLimiter, type Report } from "../proxy/rate-limiter";
import { createRateLimitStore } from "../proxy/rate-limit-store";
import { CONNECTION_MIGRATIONS } from "./connection-schema";
import { migrate } from "./schema";
import { createAlarmScheduler } from "./scheduler";
import { createLogStore, type LogEntry, type LogStore } from "../logs/store";
import { toLogEntry } from "../logs/record";
import type { LogQuery, OperationInput, OperationLog } from "../logs/types";
import { createSyncEngine, type SyncEngine, type SyncStatus, type SyncTarget } from "../sync/engine";
import type { RecordQuery, StoredRecord } from "../sync/records";
import { feedIndex } from "../ops-index/feed";
import type { EnqueueResult as EventEnqueueResult } from "../webhooks/delivery-queue";
import type { OutgoingEventInput } from "../webhooks/events";
import type { DeliveryDetail, DeliveryList, DeliveryListQuery } from "../webhooks/schemas";
import { createConnectionOutbox, type ConnectionOutbox, type ProviderWebhookInput } from "./connection-outbox";
import { deleteUsageIndex } from "../usage/index-db";
import { createUsageLedger, type UsageBatch, type UsageLedger } from "../usage/ledger";
import type { UsageSample } from "../usage/types";
import { usageEnabled } from "../usage/tap";
import type { JobUsage } from "../jobs/context";
import { connectionKey } from "../lib/connection-key";

type EnqueueInput = NewJob & { providerConfigKey: string; connectionId: string };
type EnqueueResult = { id: string; created: boolean };

/**
 * One per connection: the shared rate-limit view, async jobs, syncs, the
 * operation log, usage and outgoing webhooks, on one alarm.
 *
 * Each table is a store that lives with its feature (src/proxy/rate-limit-store.ts,
 * src/jobs, src/logs/store.ts, src/usage, src/sync, src/webhooks via
 * ./connection-outbox.ts); their schema is one versioned list
 * (./connection-schema.ts, docs/storage.md). This class is the RPC surface and
 * the one alarm that runs what they say is due.
 */
export class ConnectionObject extends DurableObject<Env> {
  /** Proxy requests coordinated here (in memory: operational insight, not state). */
  private edgeAcquires = 0;
  /** The usage index's due time the alarm was last made to cover (appendLogs). */
  private usageWakeBy: number | null = null;
  /** The name appendLogs last wrote to the identity table since open(): not written again for every batch. */
  private namedAs: string | null = null;
  // Set by open(): in the constructor, and again after destroy() empties storage.
  private limiter!: RateLimiter;
  private identity!: Identity;
  private jobs!: JobStore;
  private scheduler!: ReturnType<typeof createAlarmScheduler>;
  private logs!: LogStore;
  private syncs!: SyncEngine;
  private outbox!: ConnectionOutbox;
  private usage!: UsageLedger;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.open();
    // Runs of a previous instance died with it: make their jobs due again.
    ctx.blockConcurrencyWhile(async () => {
      this.jobs.requeueInterrupted();
      const due = this.jobs.nextDue();
      if (due !== null) await this.scheduler.wakeBy(due);
    });
  }

  /** An error nothing else handles, logged with this object's name (`ConnectionObject <integration>/<connection id>`). */
  private logUnhandled(what: string, err: unknown): void {
    logUnhandled(what, err, { object: durableObjectName("ConnectionObject", this.ctx), secrets: this.env });
  }

  /** Brings the tables to the current schema (once per wake) and builds the in-memory parts over them. */
  private open(): void {
    const { ctx, env } = this;
    migrate(ctx.storage, CONNECTION_MIGRATIONS);
    const sql = ctx.storage.sql;
    const buckets = createRateLimitStore(sql);
    this.limiter = new RateLimiter(buckets.load, buckets.save);
    this.identity = createIdentity(sql);
    this.jobs = createJobStore(sql);
    this.logs = createLogStore(sql, (fn) => ctx.storage.transactionSync(fn));
    this.usage = createUsageLedger({ sql, transaction: (fn) => ctx.storage.transactionSync(fn), env });
    const countUsage = (sample: UsageSample) => this.usage.addOwn(sample);
    this.syncs = createSyncEngine({
      sql,
      transaction: (fn) => ctx.storage.transactionSync(fn),
      env,
      limiter: this.limiter,
      countUsage,
      log: (line) => void this.storeLogs([toLogEntry(line)]),
    });
    this.outbox = createConnectionOutbox({
      ctx,
      env,
      log: (line) => this.storeLogs([toLogEntry(line)]),
      indexed: (delivery) => this.keepAlive(feedIndex(env, [{ delivery }])),
      rearm: () => this.scheduler.rearm(),
      wakeBy: (at) => this.scheduler.wakeBy(at),
    });
    this.scheduler = createAlarmScheduler(ctx.storage, [
      () => this.jobs.nextDue(),
      () => this.syncs.nextDue(),
      () => this.outbox.nextDue(),
      () => this.usage.nextIndexDue(),
    ]);
    this.edgeAcquires = 0;
    this.namedAs = null;
  }

  /** Resolves when one request of this bucket may go upstream (held until the reset otherwise). */
  acquire(bucket: string, tokens: number, hint: RateObservation, maxWaitMs: number): Promise<Grant> {
    this.edgeAcquires++;
    return this.limiter.acquire(bucket, tokens, hint, maxWaitMs);
  }

  /** What the provider answered to a request this object let through. */
  report(bucket: string, r: Report): void {
    this.limiter.report(bucket, r);
  }

  /** The limiter's buckets, and how many live proxy requests asked it since this instance started. */
  limiterState(): { buckets: BucketState[]; edgeAcquires: number } {
    return { buckets: this.limiter.state(), edgeAcquires: this.edgeAcquires };
  }

  /** Stores an async proxy job (or finds the one with the same Idempotency-Key) and runs it soon. */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const { providerConfigKey, connectionId, ...job } = input;
    const added = this.jobs.addProxy(this.ctx.id.toString(), job);
    if (!added.created) return added;
    this.identity.remember({ providerConfigKey, connectionId });
    await this.scheduler.wakeBy(Date.now());
    return added;
  }

  /** The job as `GET /proxy/requests/:id` shows it. */
  getJob(id: string): JobView | null {
    const job = this.jobs.get(id);
    return job ? jobView(job) : null;
  }

  /** Stores an async action run (input already validated) and runs it soon on the alarm. */
  async enqueueAction(input: {
    providerConfigKey: string;
    connectionId: string;
    action: string;
    input: ArrayBuffer;
    retries: number;
    backoffAllowed: boolean;
  }): Promise<{ id: string }> {
    const { providerConfigKey, connectionId, ...job } = input;
    this.identity.remember({ providerConfigKey, connectionId });
    const id = this.jobs.addAction(this.ctx.id.toString(), job);
    await this.scheduler.wakeBy(Date.now());
    return { id };
  }

  /** The run as `GET /action/:id` shows it (null for a proxy job's id too). */
  getActionRun(id: string): ActionRunView | null {
    const job = this.jobs.get(id);
    return job?.kind === "action" ? actionRunView(job) : null;
  }

  /**
   * A batch of operation-log lines from one isolate (src/logs/record.ts, which
   * also feeds them to the index), with the usage counted beside them. Answers
   * the ids of aggregated lines counted into an earlier line (left out of the index).
   */
  async appendLogs(entries: LogEntry[], usage?: UsageBatch): Promise<{ stored: number; folded: string[] }> {
    const folded: string[] = [];
    const name = usage ? connectionKey(usage.providerConfigKey, usage.connectionId) : null;
    // Lines, the connection's names and the usage sums in one transaction: one commit per batch, not three.
    const n = this.ctx.storage.transactionSync(() => {
      const lines = entries.length ? this.logs.append(entries, undefined, folded) : 0;
      if (usage) {
        // The name once per instance (an object's id is its name's hash: it never changes), not per batch.
        if (name !== this.namedAs) this.identity.remember(usage);
        this.usage.write(usage);
      }
      return lines;
    });
    // Only once the transaction that wrote it committed.
    if (name !== null) this.namedAs = name;
    if (usage) {
      await this.usage.alertCap(usage);
      // The alarm is read (and moved) only when the usage index's due time changed, not once per batch.
      const due = this.usage.nextIndexDue();
      if (due !== null && due !== this.usageWakeBy) {
        await this.scheduler.wakeBy(due);
        this.usageWakeBy = due;
      }
    }
    return { stored: n, folded };
  }

  /** The usage ledger (src/usage/ledger.ts): queries, the cap, the environment index copy. */
  usageBuckets(...args: Parameters<UsageLedger["query"]>) {
    return this.usage.query(...args);
  }

  setUsageCap(...args: Parameters<UsageLedger["setCap"]>) {
    return this.usage.setCap(...args);
  }

  usageCapState() {
    return this.usage.capState();
  }

  /** Copies changed day sums to the environment index now (the alarm does it on its own; tests call it). */
  async flushUsageIndex(): Promise<number> {
    const name = this.identity.get();
    return name ? this.usage.flushIndex(name.providerConfigKey, name.connectionId) : 0;
  }

  /** Lines made here go to this connection's log (the source of truth), then in the background to the environment-wide index. */
  private storeLogs(entries: LogEntry[]): number {
    const folded: string[] = [];
    const n = this.logs.append(entries, undefined, folded);
    const fresh = folded.length ? entries.filter((e) => !folded.includes(e.id)) : entries;
    if (fresh.length)
      this.keepAlive(
        feedIndex(
          this.env,
          fresh.map((log) => ({ log })),
        ),
      );
    return n;
  }

  /** A flush this object started runs to its end even after the call that started it. */
  private keepAlive(flush: Promise<void> | null): void {
    if (flush) this.ctx.waitUntil(flush);
  }

  // --- outgoing webhooks about this connection (src/durable-objects/connection-outbox.ts) ---

  /** Stores an outgoing event and its deliveries; resolves once stored (delivery is then at least once). */
  enqueueEvent(input: OutgoingEventInput): Promise<EventEnqueueResult> {
    return this.outbox.enqueue(input);
  }

  /** A verified provider webhook for this connection: deduped here, forwarded once. */
  receiveProviderWebhook(input: ProviderWebhookInput): Promise<{ duplicate: boolean; event_id: string }> {
    return this.outbox.receiveProviderWebhook(input);
  }

  listDeliveries(query: DeliveryListQuery): DeliveryList {
    return this.outbox.list(query);
  }

  getDelivery(id: string): DeliveryDetail | null {
    return this.outbox.get(id);
  }

  redeliver(id: string): Promise<DeliveryDetail | null> {
    return this.outbox.redeliver(id);
  }

  /** This connection's operation log, newest first (`GET /logs`). */
  queryLogs(query: LogQuery): OperationLog[] {
    return this.logs.query(query);
  }

  /** Registers the connection's syncs; their first runs start now (called when the connection is created). */
  async startSyncs(target: SyncTarget): Promise<void> {
    // Who this object is, for the usage index copy (sync pages count as usage too).
    this.identity.remember(target, true);
    this.syncs.register(target, Date.now());
    await this.scheduler.wakeBy(Date.now());
  }

  /** Runs the named syncs now (`reset`: their records are forgotten and walked from scratch). */
  async triggerSyncs(target: SyncTarget, names: string[], reset: boolean): Promise<void> {
    this.syncs.register(target, Date.now());
    this.syncs.trigger(names, reset);
    await this.scheduler.wakeBy(Date.now());
  }

  /**
   * Test hook: the sync engine's pacing (pages per alarm, the gap between
   * slices, timeouts). Nothing in terapi calls it; tests use it to make a run
   * slice at a page boundary without reaching into the object's fields.
   */
  tuneSyncs(tuning: Partial<SyncEngine["tuning"]>): void {
    Object.assign(this.syncs.tuning, tuning);
  }

  /**
   * Test hook: the outbox's pacing (how long deliveries stay quiet before the
   * alarm is re-armed), and `now` to end a waiting quiet re-arm at once; so a
   * test drives it instead of waiting it out. Nothing in terapi calls it.
   */
  async tuneOutbox(tuning: Partial<ConnectionOutbox["tuning"]>, now = false): Promise<void> {
    Object.assign(this.outbox.tuning, tuning);
    if (now) await this.outbox.quietNow();
  }

  /** Pauses or restarts the named syncs' schedules. */
  async setSyncsPaused(target: SyncTarget, names: string[], paused: boolean): Promise<void> {
    this.syncs.register(target, Date.now());
    this.syncs.setPaused(names, paused);
    await this.scheduler.rearm();
  }

  async setSyncFrequency(target: SyncTarget, name: string, frequency: string, frequencyMs: number): Promise<void> {
    this.syncs.register(target, Date.now());
    this.syncs.setFrequency(name, frequency, frequencyMs);
    await this.scheduler.rearm();
  }

  async syncStatus(target: SyncTarget, names: string[] | null): Promise<SyncStatus[]> {
    this.syncs.register(target, Date.now());
    await this.scheduler.rearm();
    return this.syncs.status(names, target.connectionId);
  }

  /** Read-only sync state for the dashboard: registers and schedules nothing. */
  syncOverview(connectionId: string): SyncStatus[] {
    return this.syncs.status(null, connectionId);
  }

  /** One page of synced records (`GET /records`). */
  listRecords(query: RecordQuery): { rows: StoredRecord[]; more: boolean } {
    return this.syncs.listRecords(query);
  }

  /** When the alarm will next run (for tests and operations). */
  alarmAt(): Promise<number | null> {
    return this.ctx.storage.getAlarm();
  }

  async alarm(): Promise<void> {
    const name = this.identity.get();
    const due = this.jobs.takeDue(Date.now());
    // Deliveries run beside the jobs and syncs: a long sync run does not hold back a webhook.
    const delivering = this.outbox.deliverDue().catch((err: unknown) => this.logUnhandled("delivery run failed", err));
    if (name) {
      const { providerConfigKey, connectionId } = name;
      const log = (line: OperationInput) => void this.storeLogs([toLogEntry(line)]);
      const usage = this.jobUsage(providerConfigKey, connectionId);
      await runJobs({ env: this.env, log, jobs: this.jobs, limiter: this.limiter, providerConfigKey, connectionId, usage }, due, (err) =>
        this.logUnhandled("job run failed", err),
      );
    }
    try {
      await this.syncs.runDue();
    } catch (err) {
      this.logUnhandled("sync run failed", err);
    }
    // Any run is a good moment to copy changed usage days to the environment index (one D1 batch).
    if (this.usage.nextIndexDue() !== null) {
      try {
        await this.flushUsageIndex();
      } catch (err) {
        this.logUnhandled("usage index flush failed", err);
      }
    }
    await delivering;
    // Destroyed meanwhile: storage is gone and must stay so.
    if (this.syncs.isStopped()) return;
    await this.scheduler.rearm();
  }

  /** Async jobs' and actions' usage goes straight into this object's ledger, and its cap stops them. */
  private jobUsage(providerConfigKey: string, connectionId: string): JobUsage {
    return {
      count: async (sample) => {
        if (!usageEnabled(this.env)) return;
        try {
          await this.usage.add({ providerConfigKey, connectionId, samples: [sample] });
        } catch (err) {
          // The answer is stored already: a failed count or cap webhook must not undo it.
          this.logUnhandled("usage count failed", err);
        }
      },
      capReached: async () => {
        const state = await this.usage.capState();
        return state?.blocked ? state : null;
      },
    };
  }

  /**
   * Forget everything of this connection: storage, pending jobs, schedules, the
   * alarm, its usage rows in the index — but its outgoing webhooks, which still
   * go out (at least once) and stay listed.
   */
  async destroy(): Promise<void> {
    // A sync run in flight must not write into the emptied storage.
    this.syncs.stop();
    const name = this.identity.get();
    const kept = this.outbox.snapshot();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // deleteAll() drops the tables too, and this instance may serve the next
    // connection created under the same id: start it over, empty.
    this.open();
    this.outbox.restore(kept);
    await this.scheduler.rearm();
    // Its day sums in the environment's usage index go too (this object copied them there).
    if (name) {
      try {
        await deleteUsageIndex(this.env.INDEX_DB, name.providerConfigKey, name.connectionId);
      } catch (err) {
        this.logUnhandled("usage index delete failed", err);
      }
    }
  }
}
