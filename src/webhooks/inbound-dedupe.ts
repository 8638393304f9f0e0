/** OpenAI retries a webhook with the same id for up to 72 h: remember ids a bit longer. */
const INBOUND_ID_TTL_MS = 4 * 24 * 60 * 60 * 1000;

/** A provider webhook's identity: its `webhook-id`, per connection. */
type InboundWebhookKey = { provider_config_key: string; connection_id: string; webhook_id: string };

/**
 * The ids of provider webhooks already received, each with the event it was
 * recorded as. No transactions here: the connection's outbox claims the id and records the
 * event in one, so a retried webhook is never forwarded twice.
 */
export function createInboundDedupe(sql: SqlStorage) {
  return {
    /**
     * Remembers the id as recorded as `eventId` — unless it is still remembered:
     * then the event it was recorded as. One statement the first time (an
     * expired row of the same id, not yet pruned, is overwritten).
     */
    claim(key: InboundWebhookKey, eventId: string, eventType: string, at: number): { fresh: true } | { fresh: false; event_id: string } {
      const stored = sql
        .exec(
          `INSERT INTO inbound_webhooks (provider_config_key, connection_id, webhook_id, event_id, event_type, received_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO UPDATE SET event_id = excluded.event_id, event_type = excluded.event_type,
             received_at = excluded.received_at, expires_at = excluded.expires_at
           WHERE inbound_webhooks.expires_at <= excluded.received_at
           RETURNING 1`,
          key.provider_config_key,
          key.connection_id,
          key.webhook_id,
          eventId,
          eventType,
          at,
          at + INBOUND_ID_TTL_MS,
        )
        .toArray();
      if (stored.length) return { fresh: true };
      const row = sql
        .exec<{ event_id: string }>(
          "SELECT event_id FROM inbound_webhooks WHERE provider_config_key = ? AND connection_id = ? AND webhook_id = ?",
          key.provider_config_key,
          key.connection_id,
          key.webhook_id,
        )
        .one();
      return { fresh: false, event_id: row.event_id };
    },

    prune(at: number): void {
      sql.exec("DELETE FROM inbound_webhooks WHERE expires_at <= ?", at);
    },

    /** The events remembered ids point at (a subquery): pruning events keeps them. */
    referencedEventIds: "SELECT event_id FROM inbound_webhooks",
  };
}
