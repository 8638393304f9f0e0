import type { EnvironmentPatch, EnvironmentSettings } from "./schemas";
import { generateWebhookSecret } from "./standard-webhooks";
import type { PriceOverride } from "../usage/price-schema";

/** After a rotation the previous secret still signs (second signature) this long. */
const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

const SCHEMA = "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/**
 * The environment's outgoing-webhook settings (URLs, signing secret and the
 * previous one during its grace period) as key/value rows in the outbox's
 * SQLite. Multi-row changes are not wrapped here: the caller runs them in its
 * transaction, so they can join a larger one (storing an event reads the URLs).
 */
export function createSettingsStore(sql: SqlStorage, now: () => number = () => Date.now()) {
  sql.exec(SCHEMA);

  function get(key: string): string | null {
    const row = sql.exec<{ value: string }>("SELECT value FROM settings WHERE key = ?", key).toArray()[0];
    return row ? row.value : null;
  }

  function set(key: string, value: string | null): void {
    if (value === null) sql.exec("DELETE FROM settings WHERE key = ?", key);
    else sql.exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** The settings; the signing secret is created on first read (two writes: run in a transaction). */
  function read(): EnvironmentSettings {
    let secret = get("webhook_secret");
    let createdAt = Number(get("webhook_secret_created_at") ?? 0);
    if (!secret) {
      secret = generateWebhookSecret();
      createdAt = now();
      set("webhook_secret", secret);
      set("webhook_secret_created_at", String(createdAt));
    }
    return {
      webhook_url: get("webhook_url"),
      secondary_webhook_url: get("secondary_webhook_url"),
      webhook_secret: secret,
      webhook_secret_created_at: new Date(createdAt).toISOString(),
      usage_prices: usagePrices(),
    };
  }

  function update(patch: EnvironmentPatch): EnvironmentSettings {
    if (patch.webhook_url !== undefined) set("webhook_url", patch.webhook_url);
    if (patch.secondary_webhook_url !== undefined) set("secondary_webhook_url", patch.secondary_webhook_url);
    if (patch.usage_prices !== undefined) set("usage_prices", patch.usage_prices === null ? null : JSON.stringify(patch.usage_prices));
    return read();
  }

  /** The environment's price override for usage costs (src/usage/prices.ts), if any. */
  function usagePrices(): PriceOverride | null {
    const raw = get("usage_prices");
    return raw === null ? null : (JSON.parse(raw) as PriceOverride);
  }

  /** A new secret signs from now on; the old one adds a second signature for a day so receivers can roll over. */
  function rotateSecret(): EnvironmentSettings {
    const current = read();
    const at = now();
    set("previous_webhook_secret", current.webhook_secret);
    set("previous_webhook_secret_expires_at", String(at + PREVIOUS_SECRET_GRACE_MS));
    set("webhook_secret", generateWebhookSecret());
    set("webhook_secret_created_at", String(at));
    return read();
  }

  /** Current secret first, then the previous one while its grace period lasts. */
  function signingSecrets(at: number): string[] {
    const { webhook_secret } = read();
    const previous = get("previous_webhook_secret");
    const until = Number(get("previous_webhook_secret_expires_at") ?? 0);
    return previous && until > at ? [webhook_secret, previous] : [webhook_secret];
  }

  return { read, update, rotateSecret, signingSecrets, usagePrices };
}

export type SettingsStore = ReturnType<typeof createSettingsStore>;
