import { DurableObject } from "cloudflare:workers";
import {
  createConnectSessionStore,
  type ConnectSession,
  type ConnectSessionStore,
  type SessionClaim,
  type SessionLookup,
} from "../connect/session-store";

/** Metadata: a JSON object (validated at the edge; kept loose here so RPC types stay finite). */
export type JsonObject = Record<string, unknown>;

export type IntegrationRecord = {
  unique_key: string;
  provider: string;
  display_name: string;
  created_at: string;
  updated_at: string;
};

export type EndUser = { id: string; email?: string; display_name?: string };

/** Connection config as indexed: never the webhook secret itself, only whether there is one and its mask. */
export type IndexedConnectionConfig = {
  organization_id?: string;
  project_id?: string;
  has_webhook_secret: boolean;
  webhook_secret_hint?: string;
};

export type ConnectionRecord = {
  id: string;
  provider_config_key: string;
  connection_id: string;
  provider: string;
  /** Masked API key, e.g. `sk-p…abcd`. */
  key_hint: string;
  connection_config: IndexedConnectionConfig;
  metadata: JsonObject;
  end_user: EndUser | null;
  tags: Record<string, string>;
  created_at: string;
  updated_at: string;
};

export type NewConnection = Omit<ConnectionRecord, "created_at" | "updated_at">;
export type ConnectionPatch = Partial<
  Pick<ConnectionRecord, "key_hint" | "connection_config" | "metadata" | "end_user" | "tags">
>;

export type ConnectionFilter = {
  provider_config_key?: string;
  /** Exact id (the same id may exist under several integrations). */
  connection_id?: string;
  end_user_id?: string;
  search?: string;
  limit: number;
  cursor?: string;
};

export type InsertResult<T> = { ok: true; value: T } | { ok: false; reason: "duplicate" | "no_integration" };
export type ReserveResult = { ok: true; token: string } | { ok: false; reason: "duplicate" | "no_integration" };

/** Longer than a credential check (15 s timeout) plus a KV write; a crashed create frees the id after it. */
const RESERVATION_MS = 60_000;
export type MetadataResult = { ok: true; updated: string[] } | { ok: false; missing: string[] };

type IntegrationRow = IntegrationRecord;
type ConnectionRow = {
  id: string;
  provider_config_key: string;
  connection_id: string;
  provider: string;
  key_hint: string;
  connection_config: string;
  metadata: string;
  end_user_id: string | null;
  end_user_email: string | null;
  end_user_display_name: string | null;
  tags: string;
  created_at: string;
  updated_at: string;
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS integrations (
  unique_key TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  display_name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
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
);
-- A connection id being created (verified, secret being written): a second
-- create of the same id is refused before it can overwrite the first one's secret.
CREATE TABLE IF NOT EXISTS connection_reservations (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id)
);
CREATE INDEX IF NOT EXISTS connections_order ON connections (created_at, provider_config_key, connection_id);
CREATE INDEX IF NOT EXISTS connections_end_user ON connections (end_user_id);
`;

/** Keyset cursor over (created_at, provider_config_key, connection_id): stable while rows are added. */
type CursorKey = [string, string, string];

function encodeCursor(key: CursorKey): string {
  return btoa(JSON.stringify(key)).replace(/=+$/, "");
}

function decodeCursor(cursor: string): CursorKey | null {
  try {
    const key: unknown = JSON.parse(atob(cursor));
    if (Array.isArray(key) && key.length === 3 && key.every((k) => typeof k === "string")) return key as CursorKey;
  } catch {
    // fall through: an unreadable cursor is the caller's error
  }
  return null;
}

function toRecord(row: ConnectionRow): ConnectionRecord {
  const endUser: EndUser | null =
    row.end_user_id === null
      ? null
      : {
          id: row.end_user_id,
          ...(row.end_user_email === null ? {} : { email: row.end_user_email }),
          ...(row.end_user_display_name === null ? {} : { display_name: row.end_user_display_name }),
        };
  return {
    id: row.id,
    provider_config_key: row.provider_config_key,
    connection_id: row.connection_id,
    provider: row.provider,
    key_hint: row.key_hint,
    connection_config: JSON.parse(row.connection_config) as IndexedConnectionConfig,
    metadata: JSON.parse(row.metadata) as JsonObject,
    end_user: endUser,
    tags: JSON.parse(row.tags) as Record<string, string>,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** SQLite wants scalars; the shape of a record is kept in JSON columns. */
function toRow(record: ConnectionRecord): ConnectionRow {
  return {
    id: record.id,
    provider_config_key: record.provider_config_key,
    connection_id: record.connection_id,
    provider: record.provider,
    key_hint: record.key_hint,
    connection_config: JSON.stringify(record.connection_config),
    metadata: JSON.stringify(record.metadata),
    end_user_id: record.end_user?.id ?? null,
    end_user_email: record.end_user?.email ?? null,
    end_user_display_name: record.end_user?.display_name ?? null,
    tags: JSON.stringify(record.tags),
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
}

/**
 * The environment's strongly consistent registry: integrations and the
 * connection index. KV holds the (encrypted) secrets the hot path reads; this
 * object is what list/get read, so a created connection is listed at once.
 */
export class Registry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly connectSessions: ConnectSessionStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Idempotent DDL, synchronous: no request can see the object before it runs.
    this.sql.exec(SCHEMA);
    this.connectSessions = createConnectSessionStore(this.sql, (fn) => ctx.storage.transactionSync(fn));
  }

  // -- connect sessions (src/connect): keyed by the token's SHA-256, never the token --

  createConnectSession(tokenHash: string, session: ConnectSession): void {
    this.connectSessions.create(tokenHash, session);
  }

  readConnectSession(tokenHash: string): SessionLookup {
    return this.connectSessions.read(tokenHash, Date.now());
  }

  claimConnectSession(tokenHash: string): SessionClaim {
    return this.connectSessions.claim(tokenHash, Date.now());
  }

  releaseConnectSession(tokenHash: string, claim: string): void {
    this.connectSessions.release(tokenHash, claim);
  }

  completeConnectSession(tokenHash: string, claim: string, connection: { provider_config_key: string; connection_id: string }): boolean {
    return this.connectSessions.complete(tokenHash, claim, connection, Date.now());
  }

  // -- integrations ---------------------------------------------------------

  createIntegration(input: { unique_key: string; provider: string; display_name: string }): InsertResult<IntegrationRecord> {
    const now = new Date().toISOString();
    const record: IntegrationRecord = { ...input, created_at: now, updated_at: now };
    const written = this.sql.exec(
      `INSERT INTO integrations (unique_key, provider, display_name, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT (unique_key) DO NOTHING`,
      record.unique_key, record.provider, record.display_name, record.created_at, record.updated_at,
    ).rowsWritten;
    return written === 0 ? { ok: false, reason: "duplicate" } : { ok: true, value: record };
  }

  listIntegrations(): IntegrationRecord[] {
    return this.sql.exec<IntegrationRow>(`SELECT * FROM integrations ORDER BY created_at, unique_key`).toArray();
  }

  getIntegration(uniqueKey: string): IntegrationRecord | null {
    return this.sql.exec<IntegrationRow>(`SELECT * FROM integrations WHERE unique_key = ?`, uniqueKey).toArray()[0] ?? null;
  }

  updateIntegration(uniqueKey: string, patch: { display_name?: string }): IntegrationRecord | null {
    const current = this.getIntegration(uniqueKey);
    if (!current) return null;
    const next: IntegrationRecord = {
      ...current,
      display_name: patch.display_name ?? current.display_name,
      updated_at: new Date().toISOString(),
    };
    this.sql.exec(
      `UPDATE integrations SET display_name = ?, updated_at = ? WHERE unique_key = ?`,
      next.display_name, next.updated_at, uniqueKey,
    );
    return next;
  }

  /** Connection ids of an integration (the caller removes their secrets and objects first). */
  integrationConnectionIds(uniqueKey: string): string[] {
    return this.sql
      .exec<{ connection_id: string }>(
        `SELECT connection_id FROM connections WHERE provider_config_key = ? ORDER BY connection_id`,
        uniqueKey,
      )
      .toArray()
      .map((r) => r.connection_id);
  }

  /**
   * Removes the integration and its whole connection index at once; returns the
   * connection ids removed (`null` if there was no such integration), so the
   * caller can also clean up connections created after it listed them.
   */
  deleteIntegration(uniqueKey: string): string[] | null {
    return this.ctx.storage.transactionSync(() => {
      const ids = this.integrationConnectionIds(uniqueKey);
      this.sql.exec(`DELETE FROM connections WHERE provider_config_key = ?`, uniqueKey);
      this.sql.exec(`DELETE FROM connection_reservations WHERE provider_config_key = ?`, uniqueKey);
      return this.sql.exec(`DELETE FROM integrations WHERE unique_key = ?`, uniqueKey).rowsWritten > 0 ? ids : null;
    });
  }

  // -- connections ----------------------------------------------------------

  /**
   * Claims a connection id before its key is verified and its secret written,
   * so two concurrent creates of one id cannot overwrite each other's secret.
   */
  reserveConnection(providerConfigKey: string, connectionId: string): ReserveResult {
    return this.ctx.storage.transactionSync((): ReserveResult => {
      if (!this.getIntegration(providerConfigKey)) return { ok: false, reason: "no_integration" };
      if (this.getConnection(providerConfigKey, connectionId)) return { ok: false, reason: "duplicate" };
      const now = Date.now();
      const held = this.sql
        .exec<{ expires_at: number }>(
          `SELECT expires_at FROM connection_reservations WHERE provider_config_key = ? AND connection_id = ?`,
          providerConfigKey, connectionId,
        )
        .toArray()[0];
      if (held && held.expires_at > now) return { ok: false, reason: "duplicate" };
      const token = crypto.randomUUID();
      this.sql.exec(
        `INSERT OR REPLACE INTO connection_reservations (provider_config_key, connection_id, token, expires_at) VALUES (?, ?, ?, ?)`,
        providerConfigKey, connectionId, token, now + RESERVATION_MS,
      );
      // Expired claims of other ids are dropped on the way.
      this.sql.exec(`DELETE FROM connection_reservations WHERE expires_at <= ?`, now);
      return { ok: true, token };
    });
  }

  /** Gives a claimed id back (the key was rejected or the secret could not be written). */
  releaseConnection(providerConfigKey: string, connectionId: string, token: string): void {
    this.sql.exec(
      `DELETE FROM connection_reservations WHERE provider_config_key = ? AND connection_id = ? AND token = ?`,
      providerConfigKey, connectionId, token,
    );
  }

  /** Inserts an index row for a reserved id; refuses a duplicate id or an integration deleted meanwhile. */
  insertConnection(input: NewConnection, token: string): InsertResult<ConnectionRecord> {
    return this.ctx.storage.transactionSync((): InsertResult<ConnectionRecord> => {
      if (!this.getIntegration(input.provider_config_key)) return { ok: false, reason: "no_integration" };
      this.releaseConnection(input.provider_config_key, input.connection_id, token);
      const now = new Date().toISOString();
      const record: ConnectionRecord = { ...input, created_at: now, updated_at: now };
      const row = toRow(record);
      const written = this.sql.exec(
        `INSERT INTO connections (provider_config_key, connection_id, id, provider, key_hint, connection_config,
           metadata, end_user_id, end_user_email, end_user_display_name, tags, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        row.provider_config_key, row.connection_id, row.id, row.provider, row.key_hint, row.connection_config,
        row.metadata, row.end_user_id, row.end_user_email, row.end_user_display_name, row.tags,
        row.created_at, row.updated_at,
      ).rowsWritten;
      return written === 0 ? { ok: false, reason: "duplicate" } : { ok: true, value: record };
    });
  }

  getConnection(providerConfigKey: string, connectionId: string): ConnectionRecord | null {
    const row = this.sql
      .exec<ConnectionRow>(
        `SELECT * FROM connections WHERE provider_config_key = ? AND connection_id = ?`,
        providerConfigKey, connectionId,
      )
      .toArray()[0];
    return row ? toRecord(row) : null;
  }

  /** Filtered, keyset-paginated list; `null` when the cursor is not one of ours. */
  listConnections(filter: ConnectionFilter): { connections: ConnectionRecord[]; next_cursor: string | null } | null {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (filter.provider_config_key !== undefined) {
      where.push("provider_config_key = ?");
      args.push(filter.provider_config_key);
    }
    if (filter.connection_id !== undefined) {
      where.push("connection_id = ?");
      args.push(filter.connection_id);
    }
    if (filter.end_user_id !== undefined) {
      where.push("end_user_id = ?");
      args.push(filter.end_user_id);
    }
    if (filter.search) {
      // instr, not LIKE: the search text is literal (no % or _ wildcards).
      where.push(
        `(instr(lower(connection_id), lower(?)) > 0 OR instr(lower(coalesce(end_user_email, '')), lower(?)) > 0
          OR instr(lower(coalesce(end_user_display_name, '')), lower(?)) > 0)`,
      );
      args.push(filter.search, filter.search, filter.search);
    }
    if (filter.cursor !== undefined) {
      const key = decodeCursor(filter.cursor);
      if (!key) return null;
      where.push("(created_at, provider_config_key, connection_id) > (?, ?, ?)");
      args.push(...key);
    }
    const rows = this.sql
      .exec<ConnectionRow>(
        `SELECT * FROM connections ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY created_at, provider_config_key, connection_id LIMIT ?`,
        ...args, filter.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    const next_cursor =
      rows.length > filter.limit && last
        ? encodeCursor([last.created_at, last.provider_config_key, last.connection_id])
        : null;
    return { connections: page.map(toRecord), next_cursor };
  }

  updateConnection(providerConfigKey: string, connectionId: string, patch: ConnectionPatch): ConnectionRecord | null {
    return this.ctx.storage.transactionSync(() => {
      const current = this.getConnection(providerConfigKey, connectionId);
      if (!current) return null;
      const next: ConnectionRecord = { ...current, ...patch, updated_at: new Date().toISOString() };
      this.writeRow(next);
      return next;
    });
  }

  deleteConnection(providerConfigKey: string, connectionId: string): boolean {
    return (
      this.sql.exec(
        `DELETE FROM connections WHERE provider_config_key = ? AND connection_id = ?`,
        providerConfigKey, connectionId,
      ).rowsWritten > 0
    );
  }

  /** Replaces (or shallow-merges) metadata of several connections: all of them, or none if one is missing. */
  setMetadata(providerConfigKey: string, connectionIds: string[], metadata: JsonObject, mode: "replace" | "merge"): MetadataResult {
    return this.ctx.storage.transactionSync((): MetadataResult => {
      const found = connectionIds.map((id) => this.getConnection(providerConfigKey, id));
      const missing = connectionIds.filter((_, i) => found[i] === null);
      if (missing.length > 0) return { ok: false, missing };
      const now = new Date().toISOString();
      for (const current of found) {
        if (!current) continue;
        const next = mode === "replace" ? metadata : { ...current.metadata, ...metadata };
        this.writeRow({ ...current, metadata: next, updated_at: now });
      }
      return { ok: true, updated: connectionIds };
    });
  }

  private writeRow(record: ConnectionRecord): void {
    const row = toRow(record);
    this.sql.exec(
      `UPDATE connections SET key_hint = ?, connection_config = ?, metadata = ?, end_user_id = ?, end_user_email = ?,
         end_user_display_name = ?, tags = ?, updated_at = ?
       WHERE provider_config_key = ? AND connection_id = ?`,
      row.key_hint, row.connection_config, row.metadata, row.end_user_id, row.end_user_email,
      row.end_user_display_name, row.tags, row.updated_at, row.provider_config_key, row.connection_id,
    );
  }
}
