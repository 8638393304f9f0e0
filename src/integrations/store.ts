export type IntegrationRecord = {
  unique_key: string;
  provider: string;
  display_name: string;
  created_at: string;
  updated_at: string;
};

/** The environment's integrations in the registry's SQLite; the rows are the records as they are. */
export function createIntegrationStore(sql: SqlStorage) {
  function get(providerConfigKey: string): IntegrationRecord | null {
    return sql.exec<IntegrationRecord>(`SELECT * FROM integrations WHERE unique_key = ?`, providerConfigKey).toArray()[0] ?? null;
  }

  return {
    get,

    /** `false`: the key is taken. */
    insert(record: IntegrationRecord): boolean {
      return (
        sql.exec(
          `INSERT INTO integrations (unique_key, provider, display_name, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT (unique_key) DO NOTHING`,
          record.unique_key,
          record.provider,
          record.display_name,
          record.created_at,
          record.updated_at,
        ).rowsWritten > 0
      );
    },

    list(): IntegrationRecord[] {
      return sql.exec<IntegrationRecord>(`SELECT * FROM integrations ORDER BY created_at, unique_key`).toArray();
    },

    update(providerConfigKey: string, patch: { display_name?: string }): IntegrationRecord | null {
      const current = get(providerConfigKey);
      if (!current) return null;
      const next: IntegrationRecord = {
        ...current,
        display_name: patch.display_name ?? current.display_name,
        updated_at: new Date().toISOString(),
      };
      sql.exec(`UPDATE integrations SET display_name = ?, updated_at = ? WHERE unique_key = ?`, next.display_name, next.updated_at, providerConfigKey);
      return next;
    },

    /** `false`: there was no such integration. */
    delete(providerConfigKey: string): boolean {
      return sql.exec(`DELETE FROM integrations WHERE unique_key = ?`, providerConfigKey).rowsWritten > 0;
    },
  };
}

export type IntegrationStore = ReturnType<typeof createIntegrationStore>;
