/**
 * The dashboard's live login sessions in the registry's SQLite: a cookie is
 * honoured only while its session id is here, so logging out ends it at once
 * (the cookie's signature alone would stay valid until it expires).
 */
export function createDashboardSessionStore(sql: SqlStorage) {
  return {
    start(sid: string, expiresAt: number, now: number): void {
      sql.exec("DELETE FROM dashboard_sessions WHERE expires_at <= ?", now);
      sql.exec("INSERT OR REPLACE INTO dashboard_sessions (sid, expires_at) VALUES (?, ?)", sid, expiresAt);
    },
    active(sid: string, now: number): boolean {
      return sql.exec("SELECT 1 FROM dashboard_sessions WHERE sid = ? AND expires_at > ?", sid, now).toArray().length > 0;
    },
    end(sid: string): void {
      sql.exec("DELETE FROM dashboard_sessions WHERE sid = ?", sid);
    },
  };
}

export type DashboardSessionStore = ReturnType<typeof createDashboardSessionStore>;
