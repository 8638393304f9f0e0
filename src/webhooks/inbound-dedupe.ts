/** OpenAI retries a webhook with the same id for up to 72 h: remember ids a bit longer. */
const INBOUND_ID_TTL_MS = 4 * 24 * 60 * 60 * 1000;

/** A provider webhook's identity: its `webhook-id`, per connection. */
type InboundWebhookKey = { provider_config_key: string; connection_id: string; webhook_id: string };

/**
 * The ids of provider webhooks already received, each with the event it was
 * recorded as. No transactions here: the connection's outbox checks, records the event and
 * remembers the id in one, so a retried webhook is never forwarded twice.
 */
export function createInboundDedupe(sql: SqlStorage) {
  return {
    /** The event a still-remembered webhook was recorded as, or null the first time. */
    seen(key: InboundWebhookKey, at: number): string | null {
      const row = sql
        .exec<{ event_id: string }>(
          "SELECT event_id FROM inbound_webhooks WHERE provider_config_key = ? AND connection_id = ? AND webhook_id = ? AND expires_at > ?",
          key.provider_config_key,
          key.connection_id,
          key.webhook_id,
          at,
        )
        .toArray()[0];
      return row ? row.event_id : null;
    },

    /** Overwrites an expired row of the same id (not yet pruned). */
    remember(key: InboundWebhookKey, eventId: string, eventType: string, at: number): void {
      sql.exec(
        `INSERT INTO inbound_webhooks (provider_config_key, connection_id, webhook_id, event_id, event_type, received_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET event_id = excluded.event_id, event_type = excluded.event_type,
           received_at = excluded.received_at, expires_at = excluded.expires_at`,
        key.provider_config_key,
        key.connection_id,
        key.webhook_id,
        eventId,
        eventType,
        at,
        at + INBOUND_ID_TTL_MS,
      );
    },

    prune(at: number): void {
      sql.exec("DELETE FROM inbound_webhooks WHERE expires_at <= ?", at);
    },

    /** The events remembered ids point at (a subquery): pruning events keeps them. */
    referencedEventIds: "SELECT event_id FROM inbound_webhooks",
  };
}
