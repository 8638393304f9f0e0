import { DurableObject } from "cloudflare:workers";
import { keyRing } from "../crypto";
import type { DeliveryConfig } from "../webhooks/settings-cache";
import type { EnvironmentPatch, EnvironmentSettings } from "../webhooks/schemas";
import { createSettingsStore, type SettingsStore } from "../webhooks/settings-store";
import type { PriceOverride } from "../usage/price-schema";
import { OUTBOX_MIGRATIONS } from "./outbox-schema";
import { migrate } from "./schema";

/**
 * The environment's outgoing-webhook settings (src/webhooks/settings-store.ts):
 * URLs and the signing secret (and the previous one during its grace period).
 * Deliveries, their attempts and the inbound dedupe live in each connection's
 * object (src/durable-objects/connection.ts); they read these settings through
 * a per-isolate cache (src/webhooks/settings-cache.ts), not once per event.
 */
export class WebhookOutbox extends DurableObject<Env> {
  private readonly settings: SettingsStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, OUTBOX_MIGRATIONS);
    this.settings = createSettingsStore(ctx.storage.sql);
    // The signing secrets are sealed at rest: opened (and an older plaintext one sealed) before anything is served.
    void ctx.blockConcurrencyWhile(async () => this.settings.unlock(await keyRing(env)));
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

  /** What deliveries need: the URLs and the secrets that sign at `at` (current first). */
  deliveryConfig(at: number): DeliveryConfig {
    return this.ctx.storage.transactionSync(() => {
      const env = this.settings.read();
      return { urls: { primary: env.webhook_url, secondary: env.secondary_webhook_url }, secrets: this.settings.signingSecrets(at) };
    });
  }
}
