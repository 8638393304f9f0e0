import { addMissingColumns, type Migration } from "./schema";

/** The tables of the environment's `Registry` object, oldest step first (docs/storage.md). */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "the tables as they were before schema versioning (connect sessions from then may lack later columns)",
    up(sql) {
      // Integrations (src/integrations/store.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS integrations (
        unique_key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        display_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`);
      // The connection index (src/connections/index-store.ts) and ids being created (src/connections/reservations.ts).
      sql.exec(`CREATE TABLE IF NOT EXISTS connections (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        id TEXT NOT NULL UNIQUE,
        provider TEXT NOT NULL,
        key_hint TEXT NOT NULL,
        connection_config TEXT NOT NULL,
        metadata TEXT NOT NULL,
        end_user_id TEXT,
        end_user_email TEXT,
        end_user_display_name TEXT,
        tags TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (provider_config_key, connection_id)
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS connections_order ON connections (created_at, provider_config_key, connection_id)");
      sql.exec("CREATE INDEX IF NOT EXISTS connections_end_user ON connections (end_user_id)");
      sql.exec(`CREATE TABLE IF NOT EXISTS connection_reservations (
        provider_config_key TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        token TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (provider_config_key, connection_id)
      )`);
      // Connect sessions (src/connect/session-store.ts), keyed by the token's SHA-256.
      sql.exec(`CREATE TABLE IF NOT EXISTS connect_sessions (
        token_hash TEXT PRIMARY KEY,
        end_user TEXT NOT NULL,
        allowed_integrations TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        claim TEXT,
        used_at INTEGER,
        provider_config_key TEXT,
        connection_id TEXT
      )`);
      sql.exec("CREATE INDEX IF NOT EXISTS connect_sessions_expiry ON connect_sessions (expires_at)");
      // Columns added after the first release; browser_hash: the browser the link was first opened in.
      addMissingColumns(sql, "connect_sessions", { tags: "TEXT", reconnect: "TEXT", browser_hash: "TEXT" });
      // Dashboard login sessions (src/dashboard/session-store.ts).
      sql.exec("CREATE TABLE IF NOT EXISTS dashboard_sessions (sid TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)");
    },
  },
];
