/**
 * Synced records in the connection object's SQLite. Every change (added,
 * updated, deleted) takes the next `cursor_seq`, so paging by seq is stable
 * while syncs write: a record changed after it was read moves past the
 * reader's cursor and shows up again as changed; unchanged ones never repeat.
 */
export type RecordAction = "ADDED" | "UPDATED" | "DELETED";

type IncomingRecord = { id: string; json: string; hash: string };

export type StoredRecord = {
  id: string;
  json: string;
  first_seen_at: number;
  last_modified_at: number;
  last_action: RecordAction;
  deleted_at: number | null;
  cursor_seq: number;
};

export type RecordQuery = {
  model: string;
  afterSeq: number;
  limit: number;
  modifiedAfter: number | null;
  actions: RecordAction[];
  ids: string[] | null;
};

type PageResult = { added: number; updated: number; rowsWritten: number };

export function createRecordStore(sql: SqlStorage) {
  const seq = () => sql.exec<{ seq: number }>("SELECT seq FROM sync_seq WHERE id = 1").one().seq;
  const setSeq = (v: number) => sql.exec("UPDATE sync_seq SET seq = ? WHERE id = 1", v);

  return {
    /**
     * Stores one page of a run (call inside a transaction): new ids are ADDED,
     * changed content (or a record back from the dead) UPDATED, the rest untouched.
     */
    applyPage(model: string, runId: string, page: number, items: IncomingRecord[], now: number): PageResult {
      const ids = JSON.stringify(items.map((r) => r.id));
      const known = new Map(
        sql
          .exec<{ id: string; hash: string; deleted_at: number | null }>(
            "SELECT id, hash, deleted_at FROM sync_records WHERE model = ? AND id IN (SELECT value FROM json_each(?))",
            model,
            ids,
          )
          .toArray()
          .map((r) => [r.id, r]),
      );
      let next = seq();
      let added = 0;
      let updated = 0;
      // Ties in time are ordered by id, so (last modified, id) and cursor_seq agree.
      const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const done = new Set<string>();
      for (const r of sorted) {
        if (done.has(r.id)) continue;
        done.add(r.id);
        const old = known.get(r.id);
        if (!old) {
          sql.exec(
            `INSERT INTO sync_records (model, id, json, hash, first_seen_at, last_modified_at, last_action, deleted_at, seen_run, cursor_seq)
             VALUES (?, ?, ?, ?, ?, ?, 'ADDED', NULL, ?, ?)`,
            model,
            r.id,
            r.json,
            r.hash,
            now,
            now,
            runId,
            ++next,
          );
          added++;
        } else if (old.hash !== r.hash || old.deleted_at !== null) {
          sql.exec(
            `UPDATE sync_records SET json = ?, hash = ?, last_modified_at = ?, last_action = 'UPDATED', deleted_at = NULL, seen_run = ?, cursor_seq = ?
             WHERE model = ? AND id = ?`,
            r.json,
            r.hash,
            now,
            runId,
            ++next,
            model,
            r.id,
          );
          updated++;
        }
      }
      if (added + updated > 0) setSeq(next);
      sql.exec("INSERT OR REPLACE INTO sync_seen (run_id, page, ids) VALUES (?, ?, ?)", runId, page, ids);
      return { added, updated, rowsWritten: added + updated };
    },

    /** After a complete walk: whatever the run did not see is DELETED (soft). One UPDATE; call inside a transaction. */
    sweep(model: string, runId: string, now: number): number {
      const base = seq();
      sql.exec(
        `UPDATE sync_records SET deleted_at = ?1, last_modified_at = ?1, last_action = 'DELETED', seen_run = ?2, cursor_seq = ?3 + gone.rn
         FROM (
           SELECT r.id AS gid, ROW_NUMBER() OVER (ORDER BY r.id) AS rn FROM sync_records r
           WHERE r.model = ?4 AND r.deleted_at IS NULL
             AND r.id NOT IN (SELECT j.value FROM sync_seen s, json_each(s.ids) j WHERE s.run_id = ?2)
         ) AS gone
         WHERE sync_records.model = ?4 AND sync_records.id = gone.gid`,
        now,
        runId,
        base,
        model,
      );
      // rowsWritten counts index entries too: ask SQLite how many records changed.
      const n = sql.exec<{ n: number }>("SELECT changes() AS n").one().n;
      if (n > 0) setSeq(base + n);
      return n;
    },

    /** Seen-lists of runs that no sync is running any more (abandoned or raced). */
    forgetOrphans(): void {
      sql.exec("DELETE FROM sync_seen WHERE run_id NOT IN (SELECT run_id FROM sync_state WHERE run_id IS NOT NULL)");
    },

    forgetRun(runId: string): void {
      sql.exec("DELETE FROM sync_seen WHERE run_id = ?", runId);
    },

    clearModel(model: string): void {
      sql.exec("DELETE FROM sync_records WHERE model = ?", model);
    },

    /** Live (not deleted) records of a model. */
    count(model: string): number {
      return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sync_records WHERE model = ? AND deleted_at IS NULL", model).one().n;
    },

    /** One page in cursor order, plus whether more follow. */
    list(q: RecordQuery): { rows: StoredRecord[]; more: boolean } {
      const where = ["model = ?", "cursor_seq > ?"];
      const args: SqlStorageValue[] = [q.model, q.afterSeq];
      if (q.modifiedAfter !== null) {
        where.push("last_modified_at >= ?");
        args.push(q.modifiedAfter);
      }
      if (q.actions.length < 3) {
        where.push(`last_action IN (${q.actions.map(() => "?").join(", ")})`);
        args.push(...q.actions);
      }
      if (q.ids !== null) {
        where.push("id IN (SELECT value FROM json_each(?))");
        args.push(JSON.stringify(q.ids));
      }
      const rows = sql
        .exec<StoredRecord>(
          `SELECT id, json, first_seen_at, last_modified_at, last_action, deleted_at, cursor_seq FROM sync_records
           WHERE ${where.join(" AND ")} ORDER BY cursor_seq LIMIT ?`,
          ...args,
          q.limit + 1,
        )
        .toArray();
      const more = rows.length > q.limit;
      return { rows: more ? rows.slice(0, q.limit) : rows, more };
    },
  };
}
