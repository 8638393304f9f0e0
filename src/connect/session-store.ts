import type { EndUser } from "../connections/index-store";

/** A connect session as the registry keeps it: only the token's hash, never the token. */
export type ConnectSession = {
  /** Nango allows a session with tags only; the connection then has no end user. */
  end_user: EndUser | null;
  /** Tags the connection made with this session gets. */
  tags: Record<string, string> | null;
  /** A reconnect session (`POST /connect/sessions/reconnect`): the page replaces this connection's key. */
  reconnect: { provider_config_key: string; connection_id: string } | null;
  /** `null`: every integration of the environment. */
  allowed_integrations: string[] | null;
  created_at: number;
  expires_at: number;
};

export type SessionLookup = { ok: true; session: ConnectSession } | { ok: false; reason: "unknown" | "expired" | "used" | "busy" | "opened" };

export type SessionClaim = { ok: true; session: ConnectSession; claim: string } | Extract<SessionLookup, { ok: false }>;

type SessionRow = {
  token_hash: string;
  end_user: string;
  allowed_integrations: string | null;
  tags: string | null;
  reconnect: string | null;
  created_at: number;
  expires_at: number;
  claimed_until: number;
  claim: string | null;
  used_at: number | null;
  browser_hash: string | null;
};

/** Longer than a credential check (15 s) plus the writes: one submission at a time per session. */
const CLAIM_MS = 60_000;
/** Finished or expired sessions are kept a day so their links still say why they stopped working. */
const KEEP_MS = 24 * 60 * 60 * 1000;

const toSession = (row: SessionRow): ConnectSession => ({
  end_user: JSON.parse(row.end_user) as EndUser | null,
  tags: row.tags === null ? null : (JSON.parse(row.tags) as Record<string, string>),
  reconnect: row.reconnect === null ? null : (JSON.parse(row.reconnect) as ConnectSession["reconnect"]),
  allowed_integrations: row.allowed_integrations === null ? null : (JSON.parse(row.allowed_integrations) as string[]),
  created_at: row.created_at,
  expires_at: row.expires_at,
});

/** Connect sessions in the registry's SQLite: strongly consistent, so a used link is used everywhere at once. */
export function createConnectSessionStore(sql: SqlStorage, transaction: <T>(fn: () => T) => T) {
  const row = (hash: string) => sql.exec<SessionRow>("SELECT * FROM connect_sessions WHERE token_hash = ?", hash).toArray()[0];

  /** Valid, and (when `browserHash` is given) opened in that browser. */
  function check(r: SessionRow | undefined, now: number, browserHash?: string): SessionLookup {
    if (!r) return { ok: false, reason: "unknown" };
    if (r.used_at !== null) return { ok: false, reason: "used" };
    if (r.expires_at <= now) return { ok: false, reason: "expired" };
    if (browserHash !== undefined && r.browser_hash !== browserHash) return { ok: false, reason: "unknown" };
    return { ok: true, session: toSession(r) };
  }

  return {
    create(hash: string, session: ConnectSession): void {
      transaction(() => {
        sql.exec("DELETE FROM connect_sessions WHERE expires_at < ?", session.created_at - KEEP_MS);
        sql.exec(
          `INSERT INTO connect_sessions (token_hash, end_user, allowed_integrations, created_at, expires_at, tags, reconnect)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          hash,
          JSON.stringify(session.end_user),
          session.allowed_integrations === null ? null : JSON.stringify(session.allowed_integrations),
          session.created_at,
          session.expires_at,
          session.tags === null ? null : JSON.stringify(session.tags),
          session.reconnect === null ? null : JSON.stringify(session.reconnect),
        );
      });
    },

    /** The session as the browser holding `browserHash` sees it. */
    read(hash: string, browserHash: string, now: number): SessionLookup {
      return check(row(hash), now, browserHash);
    },

    /**
     * The link is opened: the session is bound to the first browser that opens
     * it (its cookie's secret); the same browser may open it again, another may not.
     * So the link's token, which request logs and traces keep, is worthless once opened.
     */
    open(hash: string, browserHash: string, now: number): SessionLookup {
      return transaction((): SessionLookup => {
        const r = row(hash);
        const state = check(r, now);
        if (!state.ok || !r) return state;
        if (r.browser_hash !== null && r.browser_hash !== browserHash) return { ok: false, reason: "opened" };
        if (r.browser_hash === null) sql.exec("UPDATE connect_sessions SET browser_hash = ? WHERE token_hash = ?", browserHash, hash);
        return state;
      });
    },

    /** Reserves the session for one submission (from the browser that opened it); a second one meanwhile is told to wait. */
    claim(hash: string, browserHash: string, now: number): SessionClaim {
      return transaction((): SessionClaim => {
        const r = row(hash);
        const state = check(r, now, browserHash);
        if (!state.ok) return state;
        if (r && r.claimed_until > now) return { ok: false, reason: "busy" };
        const claim = crypto.randomUUID();
        sql.exec("UPDATE connect_sessions SET claimed_until = ?, claim = ? WHERE token_hash = ?", now + CLAIM_MS, claim, hash);
        return { ok: true, session: state.session, claim };
      });
    },

    /** The submission failed (key rejected): the end user may try again. */
    release(hash: string, claim: string): void {
      sql.exec("UPDATE connect_sessions SET claimed_until = 0, claim = NULL WHERE token_hash = ? AND claim = ?", hash, claim);
    },

    /** A connection was made: the link is spent. */
    complete(hash: string, claim: string, connection: { provider_config_key: string; connection_id: string }, now: number): boolean {
      return (
        sql.exec(
          `UPDATE connect_sessions SET used_at = ?, claim = NULL, claimed_until = 0, provider_config_key = ?, connection_id = ?
           WHERE token_hash = ? AND claim = ? AND used_at IS NULL`,
          now,
          connection.provider_config_key,
          connection.connection_id,
          hash,
          claim,
        ).rowsWritten > 0
      );
    },
  };
}

export type ConnectSessionStore = ReturnType<typeof createConnectSessionStore>;
