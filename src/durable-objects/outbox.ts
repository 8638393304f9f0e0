import { DurableObject } from "cloudflare:workers";
import { keyRing } from "../crypto";
import { recordOperation } from "../logs/record";
import { createDeliveryQueue, type DeliveryQueue, type EndpointUrls, type EnqueueResult } from "../webhooks/delivery-queue";
import type { Json, OutgoingEventInput } from "../webhooks/events";
import { createInboundDedupe, type InboundDedupe } from "../webhooks/inbound-dedupe";
import type { DeliveryDetail, DeliveryList, DeliveryListQuery, EnvironmentPatch, EnvironmentSettings } from "../webhooks/schemas";
import { createSettingsStore, type SettingsStore } from "../webhooks/settings-store";
import type { PriceOverride } from "../usage/price-schema";

export type { EnqueueResult } from "../webhooks/delivery-queue";

const PRUNE_EVERY_MS = 60 * 60 * 1000;

export type ProviderWebhookInput = {
  provider_config_key: string;
  connection_id: string;
  provider: string;
  /** The provider's `webhook-id`: the dedupe key. */
  webhook_id: string;
  event_type: string;
  payload: Json;
};

/**
 * The environment's outgoing webhooks: settings (src/webhooks/settings-store.ts),
 * the ids of provider webhooks already received (inbound-dedupe.ts), and every
 * event and delivery with its attempts (delivery-queue.ts). This class wires
 * them and runs the transactions that span more than one; the alarm, always
 * set to the earliest due delivery, picks up where a restart stopped.
 */
export class WebhookOutbox extends DurableObject<Env> {
  private lastPrune = 0;
  private readonly settings: SettingsStore;
  private readonly inbound: InboundDedupe;
  private readonly queue: DeliveryQueue;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    const transaction = <T>(fn: () => T): T => ctx.storage.transactionSync(fn);
    this.settings = createSettingsStore(sql);
    // The signing secrets are sealed at rest: opened (and an older plaintext one sealed) before anything is served.
    void ctx.blockConcurrencyWhile(async () => this.settings.unlock(await keyRing(env)));
    this.inbound = createInboundDedupe(sql);
    this.queue = createDeliveryQueue({
      sql,
      transaction,
      signingSecrets: (at) => this.settings.signingSecrets(at),
      log: (op) => recordOperation(env, (p) => ctx.waitUntil(p), op),
    });
  }

  // --- environment settings -------------------------------------------------

  /** The settings; the signing secret is created on first read. */
  getEnvironment(): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.settings.read());
  }

  updateEnvironment(patch: EnvironmentPatch): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.settings.update(patch));
  }

  /** The environment's usage price override (read by GET /usage and the connections' cost caps). */
  usagePrices(): PriceOverride | null {
    return this.settings.usagePrices();
  }

  /** A new secret signs from now on; the old one adds a second signature for a day so receivers can roll over. */
  async rotateWebhookSecret(): Promise<EnvironmentSettings> {
    let settings: EnvironmentSettings | undefined;
    // One rotation at a time: sealing the new secret awaits.
    await this.ctx.blockConcurrencyWhile(async () => {
      const next = await this.settings.newSecret(await keyRing(this.env));
      settings = this.ctx.storage.transactionSync(() => this.settings.rotateSecret(next));
    });
    return settings!;
  }

  /** Master-key rotation: the signing secrets sealed again with the current key. */
  async reencryptSigningSecrets(): Promise<{ resealed: number; total: number }> {
    let result = { resealed: 0, total: 0 };
    await this.ctx.blockConcurrencyWhile(async () => {
      result = await this.settings.reseal(await keyRing(this.env));
    });
    return result;
  }

  private endpointUrls(): EndpointUrls {
    const env = this.settings.read();
    return { primary: env.webhook_url, secondary: env.secondary_webhook_url };
  }

  // --- enqueue ----------------------------------------------------------------

  /** Stores the event and one delivery per configured URL, then attempts them right away (on an immediate alarm). */
  async enqueue(input: OutgoingEventInput): Promise<EnqueueResult> {
    const result = this.ctx.storage.transactionSync(() => this.queue.insert(input, this.endpointUrls()));
    await this.scheduleAlarm();
    return result;
  }

  /**
   * A verified provider webhook: remembers its id (per connection) and, the first
   * time only, records it and enqueues the `forward` event — all in one
   * transaction, so a retried webhook is never forwarded twice nor lost.
   */
  async receiveProviderWebhook(input: ProviderWebhookInput): Promise<{ duplicate: boolean; event_id: string }> {
    const now = Date.now();
    const outcome = this.ctx.storage.transactionSync(() => {
      const seen = this.inbound.seen(input, now);
      if (seen !== null) return { duplicate: true, event_id: seen };
      const { event_id } = this.queue.insert(
        {
          type: "forward",
          connection_id: input.connection_id,
          provider_config_key: input.provider_config_key,
          provider: input.provider,
          payload: input.payload,
        },
        this.endpointUrls(),
      );
      this.inbound.remember(input, event_id, input.event_type, now);
      return { duplicate: false, event_id };
    });
    if (!outcome.duplicate) await this.scheduleAlarm();
    return outcome;
  }

  // --- delivery -----------------------------------------------------------------

  /** Claims up to a batch of due deliveries, attempts them in parallel, re-arms the alarm. */
  async alarm(): Promise<void> {
    const claimed = this.queue.claimDue(Date.now());
    // The alarm now points at the lease end at the latest: a crash mid-attempt is retried.
    await this.scheduleAlarm();
    await Promise.all(claimed.map((row) => this.queue.attempt(row)));
    await this.scheduleAlarm();
    this.prune(Date.now());
  }

  /** One alarm, at the earliest due delivery (or none). */
  private async scheduleAlarm(): Promise<void> {
    const next = this.queue.nextDue();
    if (next === null) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const current = await this.ctx.storage.getAlarm();
    if (current !== next) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
  }

  /** Expired inbound ids first, so the events only they kept go in the same pass. */
  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.ctx.storage.transactionSync(() => {
      this.inbound.prune(now);
      this.queue.prune(now, this.inbound.referencedEventIds);
    });
  }

  // --- the deliveries API ---------------------------------------------------------

  listDeliveries(query: DeliveryListQuery): DeliveryList {
    return this.queue.list(query);
  }

  getDelivery(id: string): DeliveryDetail | null {
    return this.queue.get(id);
  }

  /**
   * Sends a delivery again, now, with a fresh retry window; to the endpoint's
   * current URL when one is set (the user may have fixed it). Same `webhook-id`,
   * so receivers that dedupe still can.
   */
  async redeliver(id: string): Promise<DeliveryDetail | null> {
    const found = this.ctx.storage.transactionSync(() => this.queue.redeliver(id, (endpoint) => this.endpointUrls()[endpoint]));
    if (!found) return null;
    await this.scheduleAlarm();
    return this.queue.get(id);
  }
}
