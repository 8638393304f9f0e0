import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONNECTION_MIGRATIONS } from "../../src/durable-objects/connection-schema";
import type { ConnectionObject } from "../../src/durable-objects/connection";
import { OUTBOX_MIGRATIONS } from "../../src/durable-objects/outbox-schema";
import { REGISTRY_MIGRATIONS } from "../../src/durable-objects/registry-schema";
import { migrate, schemaVersion, type Migration } from "../../src/durable-objects/schema";
import { newJobId } from "../../src/jobs/ids";

const objectNamed = (name: string) => env.CONNECTION.get(env.CONNECTION.idFromName(`schema-test\u0000${name}`));
const LATEST = CONNECTION_MIGRATIONS.at(-1)!.version;
const tables = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .toArray()
    .map((r) => r.name);

/** Turns a woken object back into one from before schema versioning, its jobs in `proxy_jobs` as `ddl` made them. */
function makeLegacy(sql: SqlStorage, ddl: string): void {
  sql.exec("DROP TABLE jobs");
  sql.exec("DROP TABLE schema_version");
  sql.exec(ddl);
}

describe("Durable Object schemas", () => {
  it("every object's migrations count up by one from 1", () => {
    for (const list of [CONNECTION_MIGRATIONS, REGISTRY_MIGRATIONS, OUTBOX_MIGRATIONS]) expect(list.map((m) => m.version)).toEqual(list.map((_, i) => i + 1));
  });

  it("a connection object from before versioning, its jobs in the first release's proxy_jobs, wakes with them in jobs", async () => {
    const stub = objectNamed("first-release");
    const ids = await runInDurableObject(stub, (_o: ConnectionObject, state) => {
      const sql = state.storage.sql;
      expect(schemaVersion(sql)).toBe(LATEST);
      // proxy_jobs as the first release made it: no kind, action or in_flight.
      makeLegacy(
        sql,
        `CREATE TABLE proxy_jobs (id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, status TEXT NOT NULL, method TEXT NOT NULL,
          path TEXT NOT NULL, query TEXT NOT NULL, headers TEXT NOT NULL, body BLOB, retries INTEGER NOT NULL,
          backoff_allowed INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER, created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL, result_status INTEGER, result_headers TEXT, result_body BLOB, result_truncated INTEGER, error TEXT)`,
      );
      const done = newJobId("proxy", state.id.toString());
      const later = newJobId("proxy", state.id.toString());
      const t = Date.UTC(2026, 0, 2);
      sql.exec(
        `INSERT INTO proxy_jobs (id, idempotency_key, status, method, path, query, headers, body, retries, backoff_allowed, attempts,
           created_at, updated_at, result_status, result_headers, result_body, result_truncated)
         VALUES (?, 'idem-1', 'completed', 'POST', '/v1/embeddings', '', '[]', NULL, 2, 1, 1, ?, ?, 200, '[["content-type","application/json"]]', ?, 0)`,
        done,
        t,
        t + 5,
        new TextEncoder().encode('{"ok":true}'),
      );
      // Far in the future: the woken object's alarm leaves it waiting.
      sql.exec(
        `INSERT INTO proxy_jobs (id, idempotency_key, status, method, path, query, headers, body, retries, backoff_allowed, due_at, created_at, updated_at)
         VALUES (?, NULL, 'waiting', 'GET', '/v1/models', 'limit=2', '[]', NULL, 0, 0, ?, ?, ?)`,
        later,
        Date.UTC(2099, 0, 1),
        t,
        t,
      );
      return { done, later };
    });

    // A restart: the new instance's constructor migrates before anything is served.
    await evictDurableObject(stub);
    const done = await stub.getJob(ids.done);
    expect(done).toMatchObject({
      id: ids.done,
      status: "completed",
      method: "POST",
      path: "/v1/embeddings",
      attempts: 1,
      response: { status: 200, body: '{"ok":true}', body_encoding: "utf8", truncated: false },
    });
    expect(await stub.getJob(ids.later)).toMatchObject({ status: "waiting", method: "GET", next_attempt_at: "2099-01-01T00:00:00.000Z" });

    const after = await runInDurableObject(stub, (_o: ConnectionObject, state) => {
      const sql = state.storage.sql;
      return {
        version: schemaVersion(sql),
        tables: tables(sql),
        rows: sql
          .exec<{ id: string; kind: string; action: string | null; in_flight: string | null; idempotency_key: string | null }>(
            "SELECT id, kind, action, in_flight, idempotency_key FROM jobs ORDER BY created_at, id",
          )
          .toArray(),
      };
    });
    expect(after.version).toBe(LATEST);
    expect(after.tables).toContain("jobs");
    expect(after.tables).not.toContain("proxy_jobs");
    expect(after.rows).toHaveLength(2);
    for (const r of after.rows) expect(r).toMatchObject({ kind: "proxy", action: null, in_flight: null });
    expect(after.rows.find((r) => r.id === ids.done)?.idempotency_key).toBe("idem-1");
  });

  it("an action run in the last unversioned proxy_jobs is still an action run after the upgrade", async () => {
    const stub = objectNamed("last-unversioned");
    const id = await runInDurableObject(stub, (_o: ConnectionObject, state) => {
      const sql = state.storage.sql;
      makeLegacy(
        sql,
        `CREATE TABLE proxy_jobs (id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE, status TEXT NOT NULL, method TEXT NOT NULL,
          path TEXT NOT NULL, query TEXT NOT NULL, headers TEXT NOT NULL, body BLOB, retries INTEGER NOT NULL,
          backoff_allowed INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER, created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL, result_status INTEGER, result_headers TEXT, result_body BLOB, result_truncated INTEGER, error TEXT,
          kind TEXT NOT NULL DEFAULT 'proxy', action TEXT, in_flight TEXT)`,
      );
      const jobId = newJobId("action", state.id.toString());
      const t = Date.UTC(2026, 0, 3);
      sql.exec(
        `INSERT INTO proxy_jobs (id, kind, action, status, method, path, query, headers, body, retries, backoff_allowed, attempts, created_at, updated_at, error)
         VALUES (?, 'action', 'create-embedding', 'failed', 'POST', '', '', '[]', NULL, 0, 0, 1, ?, ?, ?)`,
        jobId,
        t,
        t,
        JSON.stringify({ code: "invalid_request_error", message: "bad model", status: 400 }),
      );
      return jobId;
    });
    await evictDurableObject(stub);
    expect(await stub.getActionRun(id)).toMatchObject({
      id,
      object: "action_run",
      action_name: "create-embedding",
      status: "failed",
      attempts: 1,
      error: { code: "invalid_request_error", message: "bad model", status: 400 },
    });
  });

  it("the syncs' sync_meta of an object from before versioning merges into meta", async () => {
    const stub = objectNamed("sync-meta");
    await runInDurableObject(stub, (_o: ConnectionObject, state) => {
      const sql = state.storage.sql;
      makeLegacy(
        sql,
        "CREATE TABLE proxy_jobs (id TEXT PRIMARY KEY, kind TEXT, action TEXT, idempotency_key TEXT, status TEXT, method TEXT, path TEXT, query TEXT, headers TEXT, body BLOB, retries INTEGER, backoff_allowed INTEGER, attempts INTEGER, in_flight TEXT, due_at INTEGER, created_at INTEGER, updated_at INTEGER, result_status INTEGER, result_headers TEXT, result_body BLOB, result_truncated INTEGER, error TEXT)",
      );
      sql.exec("INSERT INTO meta (k, v) VALUES ('provider_config_key', 'openai'), ('connection_id', 'tenant-1')");
      sql.exec("CREATE TABLE sync_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      sql.exec("INSERT INTO sync_meta (k, v) VALUES ('provider_config_key', 'openai'), ('connection_id', 'tenant-1'), ('provider', 'openai')");
    });
    await evictDurableObject(stub);
    await stub.alarmAt();
    const after = await runInDurableObject(stub, (_o: ConnectionObject, state) => ({
      tables: tables(state.storage.sql),
      meta: Object.fromEntries(
        state.storage.sql
          .exec<{ k: string; v: string }>("SELECT k, v FROM meta")
          .toArray()
          .map((r) => [r.k, r.v]),
      ),
    }));
    expect(after.tables).not.toContain("sync_meta");
    expect(after.meta).toEqual({ provider_config_key: "openai", connection_id: "tenant-1", provider: "openai" });
  });

  it("a step runs once: a woken object at its version runs none again, and a failed step changes nothing", async () => {
    const stub = objectNamed("run-once");
    await runInDurableObject(stub, (_o: ConnectionObject, state) => {
      const runs: number[] = [];
      const steps: Migration[] = [
        ...CONNECTION_MIGRATIONS,
        { version: LATEST + 1, description: "a test table", up: (sql) => void (runs.push(LATEST + 1), sql.exec("CREATE TABLE schema_test (x INTEGER)")) },
      ];
      expect(migrate(state.storage, steps)).toBe(LATEST + 1);
      expect(migrate(state.storage, steps)).toBe(LATEST + 1);
      expect(runs).toEqual([LATEST + 1]);

      // A step that throws halfway leaves the tables and the version as they were.
      const failing: Migration[] = [
        ...steps,
        {
          version: LATEST + 2,
          description: "fails",
          up: (sql) => {
            sql.exec("DROP TABLE schema_test");
            throw new Error("boom");
          },
        },
      ];
      expect(() => migrate(state.storage, failing)).toThrow("boom");
      expect(schemaVersion(state.storage.sql)).toBe(LATEST + 1);
      expect(tables(state.storage.sql)).toContain("schema_test");
      // A gap in the versions is refused (the whole run is one transaction: nothing of it stays).
      expect(() => migrate(state.storage, [...steps, { version: LATEST + 3, description: "gap", up: () => undefined }])).toThrow(/count up by one/);
    });
  });
});
