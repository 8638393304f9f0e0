import { newJobId } from "./ids";
import type { JobStatus } from "./status";

/**
 * Jobs in the connection object's SQLite: async proxy requests and async action runs: the request as it will
 * be sent (without credentials: those are loaded when it runs), its state, and
 * its result. Rows survive eviction and restarts.
 */
/** `proxy`: a stored request. `action`: an action run (name in `action`, validated input JSON in `body`). */
export type JobKind = "proxy" | "action";

export type NewActionJob = { action: string; input: ArrayBuffer; retries: number; backoffAllowed: boolean };

export type NewJob = {
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: ArrayBuffer | null;
  idempotencyKey: string | null;
  retries: number;
  backoffAllowed: boolean;
};

export type JobRow = {
  id: string;
  kind: JobKind;
  action: string | null;
  status: JobStatus;
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: ArrayBuffer | null;
  retries: number;
  backoffAllowed: boolean;
  /** Calls sent to the provider so far (counted as each one goes out, before its answer). */
  attempts: number;
  /** The method of a call that went out and has no recorded outcome yet; set after a crash mid-call. */
  inFlight: string | null;
  dueAt: number | null;
  createdAt: number;
  updatedAt: number;
  result: { status: number; headers: [string, string][]; body: ArrayBuffer; truncated: boolean } | null;
  error: string | null;
};

/** Results larger than this are cut (a SQLite row holds at most 2 MB). */
export const RESULT_BODY_LIMIT = 1024 * 1024;

type Row = Record<string, SqlStorageValue>;

function toJob(r: Row): JobRow {
  return {
    id: String(r.id),
    kind: r.kind === "action" ? "action" : "proxy",
    action: r.action === null || r.action === undefined ? null : String(r.action),
    status: r.status as JobStatus,
    method: String(r.method),
    path: String(r.path),
    query: String(r.query),
    headers: JSON.parse(String(r.headers)) as [string, string][],
    body: (r.body as ArrayBuffer | null) ?? null,
    retries: Number(r.retries),
    backoffAllowed: r.backoff_allowed === 1,
    attempts: Number(r.attempts),
    inFlight: r.in_flight === null || r.in_flight === undefined ? null : String(r.in_flight),
    dueAt: r.due_at === null ? null : Number(r.due_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    result:
      r.result_status === null
        ? null
        : {
            status: Number(r.result_status),
            headers: JSON.parse(String(r.result_headers)) as [string, string][],
            body: (r.result_body as ArrayBuffer | null) ?? new ArrayBuffer(0),
            truncated: r.result_truncated === 1,
          },
    error: r.error === null ? null : String(r.error),
  };
}

export function createJobStore(sql: SqlStorage, now: () => number = () => Date.now()) {
  const one = (cursor: SqlStorageCursor<Row>) => {
    const [row] = cursor.toArray();
    return row ? toJob(row) : null;
  };

  const store = {
    get(id: string): JobRow | null {
      return one(sql.exec("SELECT * FROM jobs WHERE id = ?", id));
    },
    byIdempotencyKey(key: string): JobRow | null {
      return one(sql.exec("SELECT * FROM jobs WHERE idempotency_key = ?", key));
    },
    insert(id: string, job: NewJob): void {
      const t = now();
      sql.exec(
        `INSERT INTO jobs (id, kind, idempotency_key, status, method, path, query, headers, body, retries, backoff_allowed, due_at, created_at, updated_at)
         VALUES (?, 'proxy', ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        id,
        job.idempotencyKey,
        job.method,
        job.path,
        job.query,
        JSON.stringify(job.headers),
        job.body,
        job.retries,
        job.backoffAllowed ? 1 : 0,
        t,
        t,
        t,
      );
    },
    insertAction(id: string, job: NewActionJob): void {
      const t = now();
      sql.exec(
        `INSERT INTO jobs (id, kind, action, status, method, path, query, headers, body, retries, backoff_allowed, due_at, created_at, updated_at)
         VALUES (?, 'action', ?, 'queued', 'POST', '', '', '[]', ?, ?, ?, ?, ?, ?)`,
        id,
        job.action,
        job.input,
        job.retries,
        job.backoffAllowed ? 1 : 0,
        t,
        t,
        t,
      );
    },
    /**
     * Stores an async proxy request under a new id (naming `objectId`, the
     * object that keeps it), or answers the one already stored with the same Idempotency-Key.
     */
    addProxy(objectId: string, job: NewJob): { id: string; created: boolean } {
      const existing = job.idempotencyKey ? store.byIdempotencyKey(job.idempotencyKey) : null;
      if (existing) return { id: existing.id, created: false };
      const id = newJobId("proxy", objectId);
      store.insert(id, job);
      return { id, created: true };
    },
    /** Stores an async action run (its input already validated) under a new id naming `objectId`. */
    addAction(objectId: string, job: NewActionJob): string {
      const id = newJobId("action", objectId);
      store.insertAction(id, job);
      return id;
    },
    /** Jobs due by `at`, marked running in the same synchronous step so no one else takes them. */
    takeDue(at: number): JobRow[] {
      const rows = sql.exec("SELECT * FROM jobs WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, created_at", at).toArray();
      const t = now();
      for (const r of rows) sql.exec("UPDATE jobs SET status = 'running', due_at = NULL, updated_at = ? WHERE id = ?", t, r.id);
      return rows.map(toJob);
    },
    /**
     * A call is going out now: counted, and marked in flight, before it is sent
     * (the object's output gate holds the request until this write is stored),
     * so a crash mid-call is seen when the job is taken up again.
     */
    startAttempt(id: string, method: string): void {
      sql.exec("UPDATE jobs SET attempts = attempts + 1, in_flight = ?, updated_at = ? WHERE id = ?", method, now(), id);
    },
    wait(id: string, dueAt: number): void {
      sql.exec("UPDATE jobs SET status = 'waiting', due_at = ?, in_flight = NULL, updated_at = ? WHERE id = ?", dueAt, now(), id);
    },
    complete(id: string, result: { status: number; headers: [string, string][]; body: ArrayBuffer; truncated: boolean }): void {
      sql.exec(
        `UPDATE jobs SET status = 'completed', due_at = NULL, in_flight = NULL, body = NULL, updated_at = ?,
           result_status = ?, result_headers = ?, result_body = ?, result_truncated = ? WHERE id = ?`,
        now(),
        result.status,
        JSON.stringify(result.headers),
        result.body,
        result.truncated ? 1 : 0,
        id,
      );
    },
    fail(id: string, error: string): void {
      sql.exec("UPDATE jobs SET status = 'failed', due_at = NULL, in_flight = NULL, body = NULL, error = ?, updated_at = ? WHERE id = ?", error, now(), id);
    },
    /** Ends a job whose call was cut off by a crash and may not be sent again: it may or may not have run. */
    interrupt(id: string): void {
      sql.exec(
        "UPDATE jobs SET status = 'interrupted', due_at = NULL, in_flight = NULL, body = NULL, error = 'interrupted', updated_at = ? WHERE id = ?",
        now(),
        id,
      );
    },
    /**
     * A new instance: runs of the previous one died with it, so their jobs are
     * due again; one whose call was at the provider keeps its in-flight mark,
     * and its run decides whether it may be sent again.
     */
    requeueInterrupted(): void {
      sql.exec("UPDATE jobs SET status = 'queued', due_at = ? WHERE status = 'running'", now());
    },
    nextDue(): number | null {
      const r = sql.exec<{ at: number | null }>("SELECT MIN(due_at) AS at FROM jobs WHERE due_at IS NOT NULL").one();
      return r.at === null ? null : Number(r.at);
    },
  };
  return store;
}

export type JobStore = ReturnType<typeof createJobStore>;
