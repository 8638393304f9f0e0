/** Which connection an object serves: its integration's key and the connection's id. */
type ConnectionName = { providerConfigKey: string; connectionId: string };

/**
 * The connection a `ConnectionObject` serves, kept in its `meta` table
 * (key/value; the syncs add the connection's `provider`, src/sync/state.ts): an
 * object's id is a hash of the name, so the name is written by the first
 * call that carries it (connection created, a job, a log batch) and read by
 * the work its alarm runs.
 */
export function createIdentity(sql: SqlStorage) {
  return {
    /** `keep`: a name already written stays (a sync registration never renames the object). */
    remember({ providerConfigKey, connectionId }: ConnectionName, keep = false): void {
      sql.exec(
        `INSERT OR ${keep ? "IGNORE" : "REPLACE"} INTO meta (k, v) VALUES ('provider_config_key', ?), ('connection_id', ?)`,
        providerConfigKey,
        connectionId,
      );
    },
    /** null until a call carrying the name came. */
    get(): ConnectionName | null {
      const meta = new Map(
        sql
          .exec<{ k: string; v: string }>("SELECT k, v FROM meta")
          .toArray()
          .map((r) => [r.k, r.v]),
      );
      const providerConfigKey = meta.get("provider_config_key");
      const connectionId = meta.get("connection_id");
      return providerConfigKey !== undefined && connectionId !== undefined ? { providerConfigKey, connectionId } : null;
    },
  };
}

export type Identity = ReturnType<typeof createIdentity>;
