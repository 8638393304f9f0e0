import { DurableObject } from "cloudflare:workers";
import type { DeliveryConfig } from "../webhooks/settings-cache";
import type { EnvironmentPatch, EnvironmentSettings } from "../webhooks/schemas";
import { createSettingsStore, type SettingsStore } from "../webhooks/settings-store";

/**
 * The environment's outgoing-webhook settings (src/webhooks/settings-store.ts):
 * URLs and the signing secret (and the previous one during its grace period).
 * Deliveries, their attempts and the inbound dedupe live in each connection's
 * object (src/durable-objects/connection.ts); they read these settings through
 * a per-isolate cache (src/webhooks/settings-cache.ts), not once per event.
 * (Tables of the earlier single-object outbox may remain in this object's
 * storage; nothing reads them.)
 */
export class WebhookOutbox extends DurableObject<Env> {
  private readonly settings: SettingsStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = createSettingsStore(ctx.storage.sql);
  }

  // --- environment settings -------------------------------------------------

  /** The settings; the signing secret is created on first read. */
  getEnvironment(): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.settings.read());
  }

  updateEnvironment(patch: EnvironmentPatch): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.settings.update(patch));
  }

  /** A new secret signs from now on; the old one adds a second signature for a day so receivers can roll over. */
  rotateWebhookSecret(): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.settings.rotateSecret());
  }

  /** What deliveries need: the URLs and the secrets that sign at `at` (current first). */
  deliveryConfig(at: number): DeliveryConfig {
    return this.ctx.storage.transactionSync(() => {
      const env = this.settings.read();
      return { urls: { primary: env.webhook_url, secondary: env.secondary_webhook_url }, secrets: this.settings.signingSecrets(at) };
    });
  }
}
