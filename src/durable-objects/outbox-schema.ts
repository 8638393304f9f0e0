import type { Migration } from "./schema";

/**
 * The tables of the environment's `WebhookOutbox` object, oldest step first
 * (docs/storage.md). Objects from the earlier single-object outbox may still
 * hold its `events`, `deliveries`, `attempts` and `inbound_webhooks` tables;
 * nothing reads them.
 */
export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "the settings table as it was before schema versioning",
    up(sql) {
      // URLs, signing secrets (sealed), usage price override (src/webhooks/settings-store.ts).
      sql.exec("CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    },
  },
];
