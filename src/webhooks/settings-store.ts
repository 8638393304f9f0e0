import { open, parseSealed, seal, type KeyRing } from "../crypto";
import type { EnvironmentPatch, EnvironmentSettings } from "./schemas";
import { generateWebhookSecret } from "./standard-webhooks";
import type { PriceOverride } from "../usage/price-schema";

/** After a rotation the previous secret still signs (second signature) this long. */
const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

/** The signing secrets are sealed with the environment's key ring, like tenant secrets; this binds them to this use. */
const SECRET_AAD = "terapi/outbox/v1/webhook-signing-secret";
const SECRET_KEYS = ["webhook_secret", "previous_webhook_secret"] as const;

/** A value written before the secrets were encrypted: a bare `whsec_…`. */
const isPlaintext = (stored: string) => !stored.startsWith("{");

/**
 * The environment's outgoing-webhook settings (URLs, signing secret and the
 * previous one during its grace period) as key/value rows in the outbox's
 * SQLite. The signing secrets are stored sealed; `unlock` (run once by the
 * object before it serves anything) opens them into memory, migrating a
 * plaintext value of an older version, so the synchronous reads below can
 * sign. Multi-row changes are not wrapped here: the caller runs them in its
 * transaction, so they can join a larger one (storing an event reads the URLs).
 */
export function createSettingsStore(sql: SqlStorage, now: () => number = () => Date.now()) {
  /** Stored (sealed) value → the secret. */
  const opened = new Map<string, string>();

  function get(key: string): string | null {
    const row = sql.exec<{ value: string }>("SELECT value FROM settings WHERE key = ?", key).toArray()[0];
    return row ? row.value : null;
  }

  function set(key: string, value: string | null): void {
    if (value === null) sql.exec("DELETE FROM settings WHERE key = ?", key);
    else sql.exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  function secret(key: (typeof SECRET_KEYS)[number]): string | null {
    const stored = get(key);
    if (stored === null) return null;
    const plain = opened.get(stored);
    if (plain === undefined) throw new Error("webhook signing secrets are not unlocked");
    return plain;
  }

  async function sealed(ring: KeyRing, plain: string): Promise<string> {
    const value = JSON.stringify(await seal(ring, plain, SECRET_AAD));
    opened.set(value, plain);
    return value;
  }

  /** A fresh sealed secret, ready for `rotateSecret` (sealing is async, the rotation itself is not). */
  async function newSecret(ring: KeyRing): Promise<string> {
    return sealed(ring, generateWebhookSecret());
  }

  /**
   * Opens the stored secrets into memory; seals a plaintext one (an older
   * version's) in place; creates the first secret. Run before anything else.
   */
  async function unlock(ring: KeyRing): Promise<void> {
    for (const key of SECRET_KEYS) {
      const stored = get(key);
      if (stored === null) continue;
      if (isPlaintext(stored)) set(key, await sealed(ring, stored));
      else opened.set(stored, await open(ring, parseSealed(stored), SECRET_AAD));
    }
    if (get("webhook_secret") === null) {
      set("webhook_secret", await newSecret(ring));
      set("webhook_secret_created_at", String(now()));
    }
  }

  /** Seals again with the ring's current key what another key sealed (master-key rotation); how many were. */
  async function reseal(ring: KeyRing): Promise<{ resealed: number; total: number }> {
    let resealed = 0;
    let total = 0;
    for (const key of SECRET_KEYS) {
      const stored = get(key);
      if (stored === null) continue;
      total++;
      if (parseSealed(stored).kid === ring.current.kid) continue;
      set(key, await sealed(ring, await open(ring, parseSealed(stored), SECRET_AAD)));
      resealed++;
    }
    return { resealed, total };
  }

  function read(): EnvironmentSettings {
    return {
      webhook_url: get("webhook_url"),
      secondary_webhook_url: get("secondary_webhook_url"),
      webhook_secret: secret("webhook_secret") ?? "",
      webhook_secret_created_at: new Date(Number(get("webhook_secret_created_at") ?? 0)).toISOString(),
      reveal_credentials: get("reveal_credentials") === "true",
      usage_prices: usagePrices(),
    };
  }

  function update(patch: EnvironmentPatch): EnvironmentSettings {
    if (patch.webhook_url !== undefined) set("webhook_url", patch.webhook_url);
    if (patch.secondary_webhook_url !== undefined) set("secondary_webhook_url", patch.secondary_webhook_url);
    if (patch.reveal_credentials !== undefined) set("reveal_credentials", patch.reveal_credentials ? "true" : null);
    if (patch.usage_prices !== undefined) set("usage_prices", patch.usage_prices === null ? null : JSON.stringify(patch.usage_prices));
    return read();
  }

  /** The environment's price override for usage costs (src/usage/prices.ts), if any. */
  function usagePrices(): PriceOverride | null {
    const raw = get("usage_prices");
    return raw === null ? null : (JSON.parse(raw) as PriceOverride);
  }

  /** `next` (from `newSecret`) signs from now on; the old one adds a second signature for a day so receivers can roll over. */
  function rotateSecret(next: string): EnvironmentSettings {
    const at = now();
    set("previous_webhook_secret", get("webhook_secret"));
    set("previous_webhook_secret_expires_at", String(at + PREVIOUS_SECRET_GRACE_MS));
    set("webhook_secret", next);
    set("webhook_secret_created_at", String(at));
    return read();
  }

  /** Current secret first, then the previous one while its grace period lasts. */
  function signingSecrets(at: number): string[] {
    const current = secret("webhook_secret");
    const previous = secret("previous_webhook_secret");
    const until = Number(get("previous_webhook_secret_expires_at") ?? 0);
    return [current, previous && until > at ? previous : null].filter((s): s is string => s !== null);
  }

  return { read, update, newSecret, rotateSecret, unlock, reseal, signingSecrets, usagePrices };
}

export type SettingsStore = ReturnType<typeof createSettingsStore>;
