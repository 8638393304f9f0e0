/** A claim on a connection id, as the registry answers it. */
export type ReserveResult =
  | { ok: true; token: string }
  | { ok: false; reason: "duplicate" | "no_integration" }
  /** Another create of the id holds it (or crashed holding it) for `retryAfterMs` more. */
  | { ok: false; reason: "being_created"; retryAfterMs: number };

/** Longer than a credential check (15 s timeout) plus a KV write; a crashed create frees the id after it. */
const RESERVATION_MS = 60_000;

/**
 * Connection-id claims held while a create runs. Checking and taking a claim
 * are separate steps: the registry runs them in one transaction together with
 * its own checks (integration exists, id not yet indexed).
 */
export function createReservations(sql: SqlStorage) {
  return {
    /** When someone's unexpired claim on the id runs out; `null` when there is none. */
    heldUntil(providerConfigKey: string, connectionId: string, now: number): number | null {
      const held = sql
        .exec<{ expires_at: number }>(
          `SELECT expires_at FROM connection_reservations WHERE provider_config_key = ? AND connection_id = ?`,
          providerConfigKey,
          connectionId,
        )
        .toArray()[0];
      return held !== undefined && held.expires_at > now ? held.expires_at : null;
    },

    /** Takes (or takes over an expired) claim; returns the token that releases it. */
    hold(providerConfigKey: string, connectionId: string, now: number): string {
      const token = crypto.randomUUID();
      sql.exec(
        `INSERT OR REPLACE INTO connection_reservations (provider_config_key, connection_id, token, expires_at) VALUES (?, ?, ?, ?)`,
        providerConfigKey,
        connectionId,
        token,
        now + RESERVATION_MS,
      );
      // Expired claims of other ids are dropped on the way.
      sql.exec(`DELETE FROM connection_reservations WHERE expires_at <= ?`, now);
      return token;
    },

    /** Only the holder's token releases a claim: a late release cannot free someone else's. */
    release(providerConfigKey: string, connectionId: string, token: string): void {
      sql.exec(`DELETE FROM connection_reservations WHERE provider_config_key = ? AND connection_id = ? AND token = ?`, providerConfigKey, connectionId, token);
    },

    releaseAllOf(providerConfigKey: string): void {
      sql.exec(`DELETE FROM connection_reservations WHERE provider_config_key = ?`, providerConfigKey);
    },
  };
}

export type Reservations = ReturnType<typeof createReservations>;
