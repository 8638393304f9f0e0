/**
 * Per-sync schedule and run state in the connection object's SQLite. A run
 * in progress is its id plus a checkpoint (the next page to fetch), written in
 * the same transaction as the page's records, so a run cut off anywhere
 * resumes exactly where it was.
 */
export type Checkpoint = {
  /** Query of the first page, fixed when the run starts (e.g. a time window). */
  query: string;
  /** Next page: an `after` id, a page token or a URL; null = the first page. */
  next: string | null;
  page: number;
};

type RunCounts = { added: number; updated: number; deleted: number; rowsWritten: number; seen: number; pages: number };

export type SyncRow = {
  name: string;
  model: string;
  frequency: string;
  frequency_ms: number;
  paused: number;
  /** A triggered run goes even while paused. */
  forced: number;
  next_run_at: number | null;
  run_id: string | null;
  run_started_at: number | null;
  run_checkpoint: string | null;
  run_due_at: number | null;
  run_attempts: number;
  /** The run failed; it resumes from its checkpoint at its next turn. */
  run_failed: number;
  /** A continuation page came back empty: the walk may be short, so no deletions. */
  run_unsure: number;
  run_added: number;
  run_updated: number;
  run_deleted: number;
  run_rows: number;
  run_seen: number;
  run_pages: number;
  last_run_id: string | null;
  last_status: "SUCCESS" | "ERROR" | null;
  last_started_at: number | null;
  last_finished_at: number | null;
  last_error: string | null;
  last_added: number;
  last_updated: number;
  last_deleted: number;
  last_rows: number;
  last_seen: number;
  last_pages: number;
  /** When this sync next needs the alarm; null when nothing is planned (paused, or no schedule): `DUE_AT`, read with the row. */
  due_at: number | null;
};

/**
 * When a sync next needs the alarm, as SQL: nothing while paused (unless a run was forced), a run in
 * progress at its own due time, otherwise the next scheduled run. Read with every row and taken as a
 * MIN for the alarm, so the rule is written once.
 */
const DUE_AT = "CASE WHEN paused != 0 AND forced = 0 THEN NULL WHEN run_id IS NOT NULL THEN run_due_at ELSE next_run_at END";
const SELECT_ROWS = `SELECT *, ${DUE_AT} AS due_at FROM sync_state`;

const COUNT_COLUMNS = ["added", "updated", "deleted", "rows", "seen", "pages"] as const;

export function createSyncStateStore(sql: SqlStorage) {
  const rows = () => sql.exec<SyncRow>(`${SELECT_ROWS} ORDER BY name`).toArray();

  /** When this sync next needs the alarm; null when nothing is planned (paused, or no schedule). */
  const dueAt = (r: SyncRow): number | null => (r.due_at === null ? null : Number(r.due_at));

  return {
    rows,
    get(name: string): SyncRow | null {
      return sql.exec<SyncRow>(`${SELECT_ROWS} WHERE name = ?`, name).toArray()[0] ?? null;
    },
    dueAt,
    /**
     * The earliest `dueAt` of all syncs, in one statement: the alarm's re-arm asks this after every
     * delivery and job, and must not read every sync's whole row into JS for one number.
     */
    nextDue(): number | null {
      const r = sql.exec<{ at: number | null }>(`SELECT MIN(${DUE_AT}) AS at FROM sync_state`).one();
      return r.at === null ? null : Number(r.at);
    },
    /** The connection and provider the syncs run for, in the object's `meta` (beside its name, src/durable-objects/identity.ts). */
    meta(): Map<string, string> {
      return new Map(
        sql
          .exec<{ k: string; v: string }>("SELECT k, v FROM meta")
          .toArray()
          .map((r) => [r.k, r.v]),
      );
    },
    setMeta(values: Record<string, string>): void {
      for (const [k, v] of Object.entries(values)) sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, v);
    },
    /** Adds syncs this connection does not have yet (first run at `firstRunAt`); keeps existing schedules. */
    ensure(syncs: { name: string; model: string; frequency: string; frequencyMs: number }[], firstRunAt: number): void {
      for (const s of syncs)
        sql.exec(
          "INSERT OR IGNORE INTO sync_state (name, model, frequency, frequency_ms, next_run_at) VALUES (?, ?, ?, ?, ?)",
          s.name,
          s.model,
          s.frequency,
          s.frequencyMs,
          firstRunAt,
        );
    },
    remove(name: string): void {
      sql.exec("DELETE FROM sync_state WHERE name = ?", name);
    },
    beginRun(name: string, runId: string, checkpoint: Checkpoint, now: number): void {
      sql.exec(
        `UPDATE sync_state SET run_id = ?, run_started_at = ?, run_checkpoint = ?, run_due_at = ?, run_attempts = 0, run_failed = 0, run_unsure = 0,
           ${COUNT_COLUMNS.map((c) => `run_${c} = 0`).join(", ")} WHERE name = ?`,
        runId,
        now,
        JSON.stringify(checkpoint),
        now,
        name,
      );
    },
    /** A failed run's next turn: same walk from its checkpoint, counted as a new attempt. */
    resumeFailed(name: string, now: number): void {
      sql.exec(
        `UPDATE sync_state SET run_failed = 0, run_attempts = 0, run_started_at = ?, ${COUNT_COLUMNS.map((c) => `run_${c} = 0`).join(", ")} WHERE name = ?`,
        now,
        name,
      );
    },
    /** One page stored: move the checkpoint and add up the counts (call in the page's transaction). */
    advance(name: string, checkpoint: Checkpoint, counts: Partial<RunCounts>, unsure: boolean, dueAt: number): void {
      sql.exec(
        `UPDATE sync_state SET run_checkpoint = ?, run_attempts = 0, run_due_at = ?, run_unsure = MAX(run_unsure, ?),
           run_added = run_added + ?, run_updated = run_updated + ?, run_deleted = run_deleted + ?, run_rows = run_rows + ?, run_seen = run_seen + ?, run_pages = run_pages + ?
         WHERE name = ?`,
        JSON.stringify(checkpoint),
        dueAt,
        unsure ? 1 : 0,
        counts.added ?? 0,
        counts.updated ?? 0,
        counts.deleted ?? 0,
        counts.rowsWritten ?? 0,
        counts.seen ?? 0,
        counts.pages ?? 0,
        name,
      );
    },
    /** Come back later for the same page (rate limit, backoff, or the next slice of pages). */
    waitRun(name: string, dueAt: number, attempted: boolean): void {
      sql.exec("UPDATE sync_state SET run_due_at = ?, run_attempts = run_attempts + ? WHERE name = ?", dueAt, attempted ? 1 : 0, name);
    },
    /** The run ends: its counts become the latest result; the next run is scheduled. */
    finish(name: string, status: "SUCCESS" | "ERROR", error: string | null, now: number, nextRunAt: number): void {
      const keepRun = status === "ERROR";
      sql.exec(
        `UPDATE sync_state SET last_status = ?, last_error = ?, last_run_id = run_id, last_started_at = run_started_at, last_finished_at = ?,
           ${COUNT_COLUMNS.map((c) => `last_${c} = run_${c}`).join(", ")}, forced = 0, next_run_at = ?,
           run_failed = ?, run_due_at = ?, run_attempts = 0
           ${keepRun ? "" : ", run_id = NULL, run_checkpoint = NULL, run_started_at = NULL"}
         WHERE name = ?`,
        status,
        error,
        now,
        nextRunAt,
        keepRun ? 1 : 0,
        keepRun ? nextRunAt : null,
        name,
      );
    },
    /** Drops the run in progress (a reset starts from scratch). */
    abandonRun(name: string): void {
      sql.exec("UPDATE sync_state SET run_id = NULL, run_checkpoint = NULL, run_started_at = NULL, run_due_at = NULL, run_failed = 0 WHERE name = ?", name);
    },
    trigger(name: string, now: number): void {
      sql.exec(
        "UPDATE sync_state SET forced = 1, next_run_at = CASE WHEN run_id IS NULL THEN ? ELSE next_run_at END, run_due_at = CASE WHEN run_id IS NULL THEN run_due_at ELSE ? END WHERE name = ?",
        now,
        now,
        name,
      );
    },
    setPaused(name: string, paused: boolean, now: number): void {
      // Started again: anything overdue runs now rather than waiting a whole period.
      sql.exec(
        `UPDATE sync_state SET paused = ?,
           next_run_at = CASE WHEN ?2 = 0 AND next_run_at < ?3 THEN ?3 ELSE next_run_at END,
           run_due_at = CASE WHEN ?2 = 0 AND run_due_at < ?3 THEN ?3 ELSE run_due_at END
         WHERE name = ?4`,
        paused ? 1 : 0,
        paused ? 1 : 0,
        now,
        name,
      );
    },
    setFrequency(name: string, frequency: string, frequencyMs: number, now: number): void {
      // The next run moves to the new period, counted from the last start.
      sql.exec(
        `UPDATE sync_state SET frequency = ?, frequency_ms = ?,
           next_run_at = CASE WHEN run_id IS NULL THEN MAX(COALESCE(last_started_at, ?3) + ?2, ?3) ELSE next_run_at END
         WHERE name = ?4`,
        frequency,
        frequencyMs,
        now,
        name,
      );
    },
  };
}
