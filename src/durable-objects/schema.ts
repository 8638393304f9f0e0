/**
 * Each Durable Object keeps its SQLite tables at one schema version, stored
 * in the object itself, and brings them up to date once when it wakes (its
 * constructor), before it serves anything: the stores it is built from run
 * no DDL of their own. An object's migrations are one list, oldest first;
 * a step is never edited once released (a change is a new step).
 */
export type Migration = {
  version: number;
  /** What the step does, for the reader (and a failed migration's message). */
  description: string;
  up: (sql: SqlStorage) => void;
};

const VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)";

/** The version the object's tables are at (0: never migrated, which includes objects from before versioning). */
export function schemaVersion(sql: SqlStorage): number {
  sql.exec(VERSION_TABLE);
  return sql.exec<{ version: number }>("SELECT version FROM schema_version WHERE id = 1").toArray()[0]?.version ?? 0;
}

/**
 * Runs the steps newer than the object's version, and records the new
 * version, in one transaction: a step that throws leaves the tables as they
 * were (and the object fails to start rather than run on a half schema).
 * Returns the version the tables are at now.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly Migration[]): number {
  return storage.transactionSync(() => {
    const sql = storage.sql;
    const current = schemaVersion(sql);
    let version = current;
    for (const m of migrations) {
      if (m.version <= version) continue;
      if (m.version !== version + 1) throw new Error(`schema migration ${m.version} follows ${version}: versions must count up by one`);
      m.up(sql);
      version = m.version;
    }
    if (version !== current) sql.exec("INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?)", version);
    return version;
  });
}

/**
 * For the first versioned step only: tables made before schema versioning
 * may lack columns added later (SQLite has no ADD COLUMN IF NOT EXISTS).
 */
export function addMissingColumns(sql: SqlStorage, table: string, columns: Record<string, string>): void {
  const have = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM pragma_table_info(?)", table)
      .toArray()
      .map((r) => r.name),
  );
  for (const [name, type] of Object.entries(columns)) if (!have.has(name)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
}
