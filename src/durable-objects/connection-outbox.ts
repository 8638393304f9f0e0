import { durableObjectName, logUnhandled } from "../error-log";
import type { OperationInput } from "../logs/types";
import type { DeliveryIndexRow } from "../ops-index/messages";
import { type ClaimedDelivery, createDeliveryQueue, type DeliveryRow, type EnqueueResult } from "../webhooks/delivery-queue";
import { deliverySlots } from "../webhooks/delivery-slots";
import { type Json, newEventId, type OutgoingEventInput } from "../webhooks/events";
import { createInboundDedupe } from "../webhooks/inbound-dedupe";
import type { DeliveryDetail, DeliveryList, DeliveryListQuery } from "../webhooks/schemas";
import { deliveryConfig, type DeliveryConfig } from "../webhooks/settings-cache";
import { newJobId } from "../jobs/ids";

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/**
 * A new event's attempt prunes only when its delivery's seq is a multiple of this: an object
 * that wakes for one event (most do) does not run the pruning DELETEs every time it wakes; one
 * with many deliveries prunes every PRUNE_EVERY_DELIVERIES of them (and on its alarm runs).
 */
const PRUNE_EVERY_DELIVERIES = 64;
/** See attemptClaimed: a new event's pending delivery is indexed only if its attempt runs longer than this. */
const PENDING_INDEX_AFTER_MS = 1_000;
/** Tables kept when the connection is deleted: deliveries about it still go out, and stay listed. */
const KEPT_TABLES = ["events", "deliveries", "attempts"] as const;

export type ProviderWebhookInput = {
  provider_config_key: string;
  connection_id: string;
  provider: string;
  /** The provider's `webhook-id`: the dedupe key. */
  webhook_id: string;
  event_type: string;
  payload: Json;
  /** When the Worker took the webhook in: the operation-log line for it is written here, with the event (no RPC of its own). */
  received_at: number;
};

type OutboxDeps = {
  ctx: DurableObjectState;
  env: Env;
  /** One operation-log line (stored in this object's log). */
  log: (op: OperationInput) => void;
  /** A delivery's new state, for the environment-wide index. */
  indexed: (row: DeliveryIndexRow) => void;
  /** Re-arms the object's one alarm after deliveries changed when they are due. */
  rearm: () => Promise<void>;
  /** Makes sure the object's alarm fires no later than `at`. */
  wakeBy: (at: number) => Promise<void>;
};

/**
 * One connection's outgoing webhooks, in its own object: every event about
 * the connection, its deliveries with every attempt (src/webhooks/delivery-queue.ts)
 * and the ids of provider webhooks it received (inbound-dedupe.ts). An event is
 * stored, then attempted at once in the background; retries run on the
 * object's alarm. The environment's settings come from a per-isolate cache.
 */
/**
 * A stored delivery is attempted at once in the background; the alarm is only
 * the safety net for an object that dies first (it is not set to now, which
 * would run a second, empty delivery pass per event).
 */
const SAFETY_NET_MS = 30_000;
/** How long an object's deliveries stay quiet before its alarm is moved off the safety net (rearmWhenQuiet). */
const REARM_WHEN_QUIET_MS = 3_000;

export function createConnectionOutbox({ ctx, env, log, indexed, rearm, wakeBy }: OutboxDeps) {
  const sql = ctx.storage.sql;
  const transaction = <T>(fn: () => T): T => ctx.storage.transactionSync(fn);
  /** The signing secrets of the config read last (refreshed before every batch of attempts). */
  let secrets: string[] = [];
  let lastPrune = 0;
  const inbound = createInboundDedupe(sql);
  const queue = createDeliveryQueue({
    sql,
    transaction,
    signingSecrets: () => secrets,
    log,
    newId: () => newJobId("delivery", ctx.id.toString()),
    changed: (row: DeliveryRow) => index(row),
  });
  function index(row: DeliveryRow): void {
    const { seq: _seq, body: _body, ...rest } = row as ClaimedDelivery;
    indexed({ ...rest, rev: row.updated_at * 1000 + row.attempt_count });
  }

  const config = async (): Promise<DeliveryConfig> => {
    const c = await deliveryConfig(env);
    secrets = c.secrets;
    return c;
  };

  /** Deliveries this object attempts or holds for an isolate slot now (in memory: the stored lease covers a crash). */
  const busy = new Set<string>();
  /** An attempt that ended while others were in flight left a delivery pending (or ran from the alarm): the last to end re-arms at once. */
  let retrying = false;

  /** How long deliveries stay quiet before the alarm is re-armed (a test may lengthen it: `quietNow` then ends the wait). */
  const tuning = { quietMs: REARM_WHEN_QUIET_MS };
  /** When an attempt of this object last ended, and the quiet re-arm waiting, if any (see rearmWhenQuiet). */
  let lastEnded = 0;
  let quiet: { timer: ReturnType<typeof setTimeout>; check: () => Promise<void> | undefined } | null = null;

  /**
   * After a new event's attempts all ended with nothing left pending, the alarm is the safety net
   * their store set (at most SAFETY_NET_MS away): correct, only early (if it fires first it finds
   * nothing due and re-arms). So the alarm is not moved back after every event; it is re-armed
   * once this object has had no attempt end for `tuning.quietMs`. An object taking an event
   * every few seconds keeps its one safety net (the next event's `wakeBy` finds it early enough and
   * writes nothing) instead of moving the alarm forward and back for each event. One timer per
   * object, not one per event: it looks again when attempts ended meanwhile.
   */
  function rearmWhenQuiet(): void {
    lastEnded = Date.now();
    if (quiet) return;
    ctx.waitUntil(
      new Promise<void>((release) => {
        const check = () => {
          const left = lastEnded + tuning.quietMs - Date.now();
          if (left > 0) {
            if (quiet) quiet.timer = setTimeout(check, left);
            return undefined;
          }
          quiet = null;
          // Attempts in flight re-arm (or wait for quiet again) when they end.
          const done = (busy.size === 0 ? rearm() : Promise.resolve()).catch(reportFailure);
          void done.finally(release);
          return done;
        };
        quiet = { timer: setTimeout(check, tuning.quietMs), check };
      }),
    );
  }

  /** Test hook: a waiting quiet re-arm runs now, as if the quiet time had passed; resolves once it has. */
  async function quietNow(): Promise<void> {
    if (!quiet) return;
    clearTimeout(quiet.timer);
    lastEnded = Number.NEGATIVE_INFINITY;
    await quiet.check();
  }

  /**
   * Attempts claimed deliveries, each once one of the isolate's slots is free (src/webhooks/delivery-slots.ts),
   * then re-arms — once for the object's attempts that overlap: while others are still in flight, the last
   * one to end re-arms for all (every outcome is stored by then). A retry is scheduled on the alarm at
   * once; a new event's attempts that all ended (delivered or failed) leave it to rearmWhenQuiet.
   */
  async function attemptClaimed(claimed: ClaimedDelivery[], fromAlarm: boolean): Promise<void> {
    for (const row of claimed) busy.add(row.id);
    // A new event's pending state goes to the environment-wide index only if its attempt has not
    // ended within PENDING_INDEX_AFTER_MS (waiting for a slot, a slow receiver): most end sooner,
    // and their outcome's row is the one the index needs (one index row per event fewer).
    const ended = new Set<string>();
    const pendingIndex = fromAlarm
      ? undefined
      : setTimeout(() => {
          for (const row of claimed) if (!ended.has(row.id)) index(row);
        }, PENDING_INDEX_AFTER_MS);
    let after: (DeliveryRow | null)[];
    try {
      after = await Promise.all(claimed.map((row) => deliverySlots.run(() => queue.attempt(row)).finally(() => ended.add(row.id))));
    } finally {
      if (pendingIndex !== undefined) clearTimeout(pendingIndex);
      for (const row of claimed) busy.delete(row.id);
    }
    if (fromAlarm || after.some((row) => row?.status === "pending")) retrying = true;
    if (busy.size === 0) {
      if (retrying) {
        retrying = false;
        await rearm();
      } else rearmWhenQuiet();
    }
    if (fromAlarm || claimed.some((row) => row.seq % PRUNE_EVERY_DELIVERIES === 0)) prune(Date.now());
  }

  /** Attempts what is due now (a batch; the alarm takes the rest), then re-arms. */
  async function deliverDue(): Promise<void> {
    // Most alarms (syncs, jobs) have no delivery due: they must not even read the settings.
    const due = queue.nextDue();
    if (due === null || due > Date.now()) return;
    await config();
    const claimed = queue.claimDue(Date.now(), busy);
    // The alarm now points at the lease end at the latest: a crash mid-attempt is retried.
    await rearm();
    if (claimed.length) await attemptClaimed(claimed, true);
  }

  const reportFailure = (err: unknown) => logUnhandled("delivery run failed", err, { object: durableObjectName("ConnectionObject", ctx) });

  /** In the background of the call that stored something: the first attempt does not wait for the alarm. */
  const deliverSoon = () => ctx.waitUntil(deliverDue().catch(reportFailure));

  /**
   * A new event's deliveries were stored already claimed (no second write to
   * claim them): attempted now in the background; the safety-net alarm set
   * with them (at the lease's end) retries them if this object dies first.
   */
  const attemptNow = (claimed: ClaimedDelivery[]) => ctx.waitUntil(attemptClaimed(claimed, false).catch(reportFailure));

  function prune(now: number): void {
    if (now - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = now;
    transaction(() => {
      inbound.prune(now);
      queue.prune(now, inbound.referencedEventIds);
    });
  }

  return {
    nextDue: () => queue.nextDue(),
    deliverDue,
    tuning,
    quietNow,

    /** Stores the event and one delivery per configured URL; resolves once stored. */
    async enqueue(input: OutgoingEventInput): Promise<EnqueueResult> {
      const { urls } = await config();
      const { claimed, ...result } = transaction(() => queue.insert(input, urls, true));
      if (claimed.length) {
        await wakeBy(Date.now() + SAFETY_NET_MS);
        attemptNow(claimed);
      }
      return result;
    },

    /**
     * A verified provider webhook: remembers its id and, the first time only,
     * enqueues the `forward` event, in one transaction, so a retried webhook is
     * never forwarded twice nor lost. Its operation-log line is written here too.
     */
    async receiveProviderWebhook(input: ProviderWebhookInput): Promise<{ duplicate: boolean; event_id: string }> {
      const { urls } = await config();
      const now = Date.now();
      const outcome = transaction(() => {
        const eventId = newEventId();
        const seen = inbound.claim(input, eventId, input.event_type, now);
        if (!seen.fresh) return { duplicate: true, event_id: seen.event_id, claimed: [] };
        const { claimed } = queue.insert(
          {
            type: "forward",
            connection_id: input.connection_id,
            provider_config_key: input.provider_config_key,
            provider: input.provider,
            payload: input.payload,
          },
          urls,
          true,
          eventId,
        );
        return { duplicate: false, event_id: eventId, claimed };
      });
      log({
        provider_config_key: input.provider_config_key,
        connection_id: input.connection_id,
        type: "webhook",
        status: "success",
        http_status: 200,
        duration_ms: Math.max(0, Date.now() - input.received_at),
        started_at: input.received_at,
        method: "POST",
        detail: outcome.duplicate ? `${input.event_type} (duplicate)` : input.event_type,
      });
      if (outcome.claimed.length) {
        await wakeBy(Date.now() + SAFETY_NET_MS);
        attemptNow(outcome.claimed);
      }
      return { duplicate: outcome.duplicate, event_id: outcome.event_id };
    },

    list: (query: DeliveryListQuery): DeliveryList => queue.list(query),
    get: (id: string): DeliveryDetail | null => queue.get(id),

    /** Sends a delivery again now with a fresh window, to the endpoint's current URL when one is set. */
    async redeliver(id: string): Promise<DeliveryDetail | null> {
      const { urls } = await config();
      const found = transaction(() => queue.redeliver(id, (endpoint) => urls[endpoint]));
      if (!found) return null;
      await wakeBy(Date.now() + SAFETY_NET_MS);
      deliverSoon();
      return queue.get(id);
    },

    /** The rows that must outlive a wipe of the object's storage (connection deleted). */
    snapshot(): Record<string, Record<string, SqlStorageValue>[]> {
      const out: Record<string, Record<string, SqlStorageValue>[]> = {};
      for (const t of KEPT_TABLES) out[t] = sql.exec(`SELECT * FROM ${t}`).toArray();
      return out;
    },

    restore(saved: Record<string, Record<string, SqlStorageValue>[]>): void {
      transaction(() => {
        for (const t of KEPT_TABLES)
          for (const row of saved[t] ?? []) {
            const cols = Object.keys(row);
            sql.exec(`INSERT OR REPLACE INTO ${t} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, ...cols.map((c) => row[c]));
          }
      });
    },
  };
}

export type ConnectionOutbox = ReturnType<typeof createConnectionOutbox>;
