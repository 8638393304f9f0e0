import { decodeCursor, encodeCursor } from "../cursor";

/** Metadata: a JSON object (validated at the edge; kept loose here so RPC types stay finite). */
export type JsonObject = Record<string, unknown>;

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
export type ConnectionPatch = Partial<Pick<ConnectionRecord, "key_hint" | "connection_config" | "metadata" | "end_user" | "tags">>;

export type ConnectionFilter = {
  provider_config_key?: string;
  /** Any of these integrations (Nango's `integrationId=a,b`). */
  provider_config_keys?: string[];
  /** Exact id (the same id may exist under several integrations). */
  connection_id?: string;
  end_user_id?: string;
  search?: string;
  /** Exact values of the connection's tags; `end_user_email` / `end_user_display_name` match the end user (as Nango's SDK sends them). */
  tags?: Record<string, string>;
  limit: number;
  cursor?: string;
  /** Nango's `page` (0-based, pages of `limit`); not combined with `cursor`. */
  page?: number;
};

/** A registry insert (integration or connection) and why it was refused. */
export type InsertResult<T> = { ok: true; value: T } | { ok: false; reason: "duplicate" | "no_integration" };
/** A metadata write to several connections: all of them, or none and the ids that are missing. */
export type MetadataResult = { ok: true; updated: string[] } | { ok: false; missing: string[] };

export type ConnectionPage = { connections: ConnectionRecord[]; next_cursor: string | null };

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
 * The connection index in the registry's SQLite: what list/get read (secrets
 * live in KV). Steps that must hold together (insert after checks, read then
 * write) are put in one transaction by the registry.
 */
export function createConnectionIndex(sql: SqlStorage) {
  return {
    get(providerConfigKey: string, connectionId: string): ConnectionRecord | null {
      const row = sql
        .exec<ConnectionRow>(`SELECT * FROM connections WHERE provider_config_key = ? AND connection_id = ?`, providerConfigKey, connectionId)
        .toArray()[0];
      return row ? toRecord(row) : null;
    },

    /** `false`: the id (or the record's unique id) is already indexed. */
    insert(record: ConnectionRecord): boolean {
      const row = toRow(record);
      return (
        sql.exec(
          `INSERT INTO connections (provider_config_key, connection_id, id, provider, key_hint, connection_config,
             metadata, end_user_id, end_user_email, end_user_display_name, tags, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          row.provider_config_key,
          row.connection_id,
          row.id,
          row.provider,
          row.key_hint,
          row.connection_config,
          row.metadata,
          row.end_user_id,
          row.end_user_email,
          row.end_user_display_name,
          row.tags,
          row.created_at,
          row.updated_at,
        ).rowsWritten > 0
      );
    },

    /** Writes the mutable columns of an existing row (its keys, id and created_at stay). */
    write(record: ConnectionRecord): void {
      const row = toRow(record);
      sql.exec(
        `UPDATE connections SET key_hint = ?, connection_config = ?, metadata = ?, end_user_id = ?, end_user_email = ?,
           end_user_display_name = ?, tags = ?, updated_at = ?
         WHERE provider_config_key = ? AND connection_id = ?`,
        row.key_hint,
        row.connection_config,
        row.metadata,
        row.end_user_id,
        row.end_user_email,
        row.end_user_display_name,
        row.tags,
        row.updated_at,
        row.provider_config_key,
        row.connection_id,
      );
    },

    delete(providerConfigKey: string, connectionId: string): boolean {
      return sql.exec(`DELETE FROM connections WHERE provider_config_key = ? AND connection_id = ?`, providerConfigKey, connectionId).rowsWritten > 0;
    },

    idsOf(providerConfigKey: string): string[] {
      return sql
        .exec<{ connection_id: string }>(`SELECT connection_id FROM connections WHERE provider_config_key = ? ORDER BY connection_id`, providerConfigKey)
        .toArray()
        .map((r) => r.connection_id);
    },

    deleteAllOf(providerConfigKey: string): void {
      sql.exec(`DELETE FROM connections WHERE provider_config_key = ?`, providerConfigKey);
    },

    /** Filtered, keyset-paginated list; `null` when the cursor is not one of ours. */
    list(filter: ConnectionFilter): ConnectionPage | null {
      const where: string[] = [];
      const args: SqlStorageValue[] = [];
      if (filter.provider_config_key !== undefined) {
        where.push("provider_config_key = ?");
        args.push(filter.provider_config_key);
      }
      if (filter.provider_config_keys !== undefined) {
        where.push(`provider_config_key IN (${filter.provider_config_keys.map(() => "?").join(", ") || "NULL"})`);
        args.push(...filter.provider_config_keys);
      }
      for (const [key, value] of Object.entries(filter.tags ?? {})) {
        if (key === "end_user_email") where.push("end_user_email = ?");
        else if (key === "end_user_display_name") where.push("end_user_display_name = ?");
        else {
          where.push("json_extract(tags, ?) = ?");
          args.push(`$.${JSON.stringify(key)}`);
        }
        args.push(value);
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
        // Keyset cursor over (created_at, provider_config_key, connection_id): stable while rows are added.
        const key = decodeCursor(filter.cursor, ["string", "string", "string"]);
        if (!key) return null;
        where.push("(created_at, provider_config_key, connection_id) > (?, ?, ?)");
        args.push(...key);
      }
      // One row past the page tells whether there is a next one.
      const rows = sql
        .exec<ConnectionRow>(
          `SELECT * FROM connections ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY created_at, provider_config_key, connection_id LIMIT ? OFFSET ?`,
          ...args,
          filter.limit + 1,
          (filter.page ?? 0) * filter.limit,
        )
        .toArray();
      const page = rows.slice(0, filter.limit);
      const last = page[page.length - 1];
      const next_cursor = rows.length > filter.limit && last ? encodeCursor([last.created_at, last.provider_config_key, last.connection_id]) : null;
      return { connections: page.map(toRecord), next_cursor };
    },
  };
}

export type ConnectionIndex = ReturnType<typeof createConnectionIndex>;
