import { DurableObject } from "cloudflare:workers";
import {
  ATTEMPT_TIMEOUT_MS,
  attemptDelivery,
  DELIVERY_WINDOW_MS,
  nextAttemptAt,
  type AttemptResult,
} from "../webhooks/delivery";
import { newDeliveryId, newEventId, type EventType, type Json, type OutgoingEvent, type OutgoingEventInput } from "../webhooks/events";
import type {
  AttemptView,
  DeliveryDetail,
  DeliveryList,
  DeliveryListQuery,
  DeliveryStatus,
  DeliveryView,
  EnvironmentPatch,
  EnvironmentSettings,
} from "../webhooks/schemas";
import { generateWebhookSecret, signStandardWebhook } from "../webhooks/standard-webhooks";
import { recordOperation } from "../logs/record";

/** A claimed delivery is not picked again for this long: covers one attempt even if the object dies mid-way. */
const CLAIM_LEASE_MS = ATTEMPT_TIMEOUT_MS + 20_000;
/** Deliveries attempted per alarm run; the rest go on the next (immediate) alarm. */
const BATCH_SIZE = 20;
/** OpenAI retries a webhook with the same id for up to 72 h: remember ids a bit longer. */
const INBOUND_ID_TTL_MS = 4 * 24 * 60 * 60 * 1000;
/** Finished deliveries and their events are kept this long for the deliveries API. */
const RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** After a rotation the previous secret still signs (second signature) this long. */
const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  provider_config_key TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbound_webhooks (
  provider_config_key TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (provider_config_key, connection_id, webhook_id)
);
CREATE INDEX IF NOT EXISTS inbound_webhooks_expiry ON inbound_webhooks (expires_at);
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  provider_config_key TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  url TEXT NOT NULL,
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  deadline_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_status_code INTEGER,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  response_snippet TEXT,
  error TEXT,
  outcome TEXT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
`;

type Endpoint = "primary" | "secondary";

type DeliveryRow = {
  seq: number;
  id: string;
  event_id: string;
  type: string;
  connection_id: string;
  provider_config_key: string;
  endpoint: string;
  url: string;
  status: string;
  attempt_count: number;
  next_attempt_at: number | null;
  deadline_at: number;
  created_at: number;
  updated_at: number;
  last_status_code: number | null;
  last_error: string | null;
};

type AttemptRow = {
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  response_snippet: string | null;
  error: string | null;
  outcome: string;
};

export type ProviderWebhookInput = {
  provider_config_key: string;
  connection_id: string;
  provider: string;
  /** The provider's `webhook-id`: the dedupe key. */
  webhook_id: string;
  event_type: string;
  payload: Json;
};

export type EnqueueResult = { event_id: string; delivery_ids: string[] };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The environment's outgoing webhooks: settings (URLs, signing secret), every
 * event and delivery with its attempts, and the ids of provider webhooks already
 * received. A delivery is written before it is attempted and every state change
 * is one `transactionSync`, so nothing is lost if the object restarts: the
 * alarm, always set to the earliest due delivery, picks up where it stopped.
 */
export class WebhookOutbox extends DurableObject<Env> {
  private lastPrune = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.storage.sql.exec(SCHEMA);
  }

  // --- environment settings -------------------------------------------------

  /** The settings; the signing secret is created on first read. */
  getEnvironment(): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => this.readEnvironment());
  }

  updateEnvironment(patch: EnvironmentPatch): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => {
      if (patch.webhook_url !== undefined) this.setSetting("webhook_url", patch.webhook_url);
      if (patch.secondary_webhook_url !== undefined) this.setSetting("secondary_webhook_url", patch.secondary_webhook_url);
      return this.readEnvironment();
    });
  }

  /** A new secret signs from now on; the old one adds a second signature for a day so receivers can roll over. */
  rotateWebhookSecret(): EnvironmentSettings {
    return this.ctx.storage.transactionSync(() => {
      const current = this.readEnvironment();
      const now = Date.now();
      this.setSetting("previous_webhook_secret", current.webhook_secret);
      this.setSetting("previous_webhook_secret_expires_at", String(now + PREVIOUS_SECRET_GRACE_MS));
      this.setSetting("webhook_secret", generateWebhookSecret());
      this.setSetting("webhook_secret_created_at", String(now));
      return this.readEnvironment();
    });
  }

  private readEnvironment(): EnvironmentSettings {
    let secret = this.getSetting("webhook_secret");
    let createdAt = Number(this.getSetting("webhook_secret_created_at") ?? 0);
    if (!secret) {
      secret = generateWebhookSecret();
      createdAt = Date.now();
      this.setSetting("webhook_secret", secret);
      this.setSetting("webhook_secret_created_at", String(createdAt));
    }
    return {
      webhook_url: this.getSetting("webhook_url"),
      secondary_webhook_url: this.getSetting("secondary_webhook_url"),
      webhook_secret: secret,
      webhook_secret_created_at: iso(createdAt),
    };
  }

  private getSetting(key: string): string | null {
    const row = this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM settings WHERE key = ?", key).toArray()[0];
    return row ? row.value : null;
  }

  private setSetting(key: string, value: string | null): void {
    if (value === null) this.ctx.storage.sql.exec("DELETE FROM settings WHERE key = ?", key);
    else this.ctx.storage.sql.exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** Current secret first, then the previous one while its grace period lasts. */
  private signingSecrets(now: number): string[] {
    const { webhook_secret } = this.readEnvironment();
    const previous = this.getSetting("previous_webhook_secret");
    const until = Number(this.getSetting("previous_webhook_secret_expires_at") ?? 0);
    return previous && until > now ? [webhook_secret, previous] : [webhook_secret];
  }

  // --- enqueue ----------------------------------------------------------------

  /** Stores the event and one delivery per configured URL, then attempts them right away (on an immediate alarm). */
  async enqueue(input: OutgoingEventInput): Promise<EnqueueResult> {
    const result = this.ctx.storage.transactionSync(() => this.insertEvent(input));
    await this.scheduleAlarm();
    return result;
  }

  /**
   * A verified provider webhook: remembers its id (per connection) and, the first
   * time only, records it and enqueues the `forward` event — all in one
   * transaction, so a retried webhook is never forwarded twice nor lost.
   */
  async receiveProviderWebhook(input: ProviderWebhookInput): Promise<{ duplicate: boolean; event_id: string }> {
    const now = Date.now();
    const outcome = this.ctx.storage.transactionSync(() => {
      const seen = this.ctx.storage.sql
        .exec<{ event_id: string }>(
          "SELECT event_id FROM inbound_webhooks WHERE provider_config_key = ? AND connection_id = ? AND webhook_id = ? AND expires_at > ?",
          input.provider_config_key,
          input.connection_id,
          input.webhook_id,
          now,
        )
        .toArray()[0];
      if (seen) return { duplicate: true, event_id: seen.event_id };
      const { event_id } = this.insertEvent({
        type: "forward",
        connection_id: input.connection_id,
        provider_config_key: input.provider_config_key,
        provider: input.provider,
        payload: input.payload,
      });
      this.ctx.storage.sql.exec(
        `INSERT INTO inbound_webhooks (provider_config_key, connection_id, webhook_id, event_id, event_type, received_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET event_id = excluded.event_id, event_type = excluded.event_type,
           received_at = excluded.received_at, expires_at = excluded.expires_at`,
        input.provider_config_key,
        input.connection_id,
        input.webhook_id,
        event_id,
        input.event_type,
        now,
        now + INBOUND_ID_TTL_MS,
      );
      return { duplicate: false, event_id };
    });
    if (!outcome.duplicate) await this.scheduleAlarm();
    return outcome;
  }

  private insertEvent(input: OutgoingEventInput): EnqueueResult {
    const now = Date.now();
    const event: OutgoingEvent = {
      id: newEventId(),
      type: input.type,
      from: "terapi",
      connection_id: input.connection_id,
      provider_config_key: input.provider_config_key,
      provider: input.provider,
      created_at: iso(now),
      payload: input.payload,
    };
    this.ctx.storage.sql.exec(
      "INSERT INTO events (id, type, connection_id, provider_config_key, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      event.id,
      event.type,
      event.connection_id,
      event.provider_config_key,
      JSON.stringify(event),
      now,
    );
    const env = this.readEnvironment();
    const targets: [Endpoint, string | null][] = [
      ["primary", env.webhook_url],
      ["secondary", env.secondary_webhook_url],
    ];
    const delivery_ids: string[] = [];
    for (const [endpoint, url] of targets) {
      if (!url) continue;
      const id = newDeliveryId();
      this.ctx.storage.sql.exec(
        `INSERT INTO deliveries (id, event_id, type, connection_id, provider_config_key, endpoint, url, status,
           attempt_count, next_attempt_at, deadline_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
        id,
        event.id,
        event.type,
        event.connection_id,
        event.provider_config_key,
        endpoint,
        url,
        now,
        now + DELIVERY_WINDOW_MS,
        now,
        now,
      );
      delivery_ids.push(id);
    }
    return { event_id: event.id, delivery_ids };
  }

  // --- delivery -----------------------------------------------------------------

  async alarm(): Promise<void> {
    await this.deliverDue();
  }

  /** Claims up to a batch of due deliveries, attempts them in parallel, records each outcome, re-arms the alarm. */
  private async deliverDue(): Promise<void> {
    const now = Date.now();
    const claimed = this.ctx.storage.transactionSync(() => {
      const rows = this.ctx.storage.sql
        .exec<DeliveryRow>(
          "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?",
          now,
          BATCH_SIZE,
        )
        .toArray();
      for (const row of rows)
        this.ctx.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", now + CLAIM_LEASE_MS, row.id);
      return rows;
    });
    // The alarm now points at the lease end at the latest: a crash mid-attempt is retried.
    await this.scheduleAlarm();
    await Promise.all(claimed.map((row) => this.attempt(row)));
    await this.scheduleAlarm();
    this.prune(Date.now());
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const eventRow = this.ctx.storage.sql.exec<{ body: string }>("SELECT body FROM events WHERE id = ?", row.event_id).toArray()[0];
    if (!eventRow) {
      this.finish(row, Date.now(), { outcome: "failed", status_code: null, duration_ms: 0, response_snippet: null, error: "event missing", retry_after_ms: null });
      return;
    }
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    const signatures = await Promise.all(
      this.signingSecrets(started).map((secret) => signStandardWebhook(secret, row.event_id, timestamp, eventRow.body)),
    );
    const result = await attemptDelivery({
      url: row.url,
      body: eventRow.body,
      headers: {
        "content-type": "application/json",
        "user-agent": "terapi-webhooks/1",
        "webhook-id": row.event_id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatures.join(" "),
      },
    });
    this.finish(row, started, result);
    // Per connection, next to its proxy calls: the event type and the outcome, never the URL nor the body.
    recordOperation(this.env, (p) => this.ctx.waitUntil(p), {
      provider_config_key: row.provider_config_key,
      connection_id: row.connection_id,
      type: "delivery",
      status: result.outcome === "delivered" ? "success" : "failure",
      http_status: result.status_code,
      duration_ms: result.duration_ms,
      started_at: started,
      retries: row.attempt_count,
      method: "POST",
      detail: `${row.type} to ${row.endpoint} webhook_url: ${result.outcome}${result.status_code === null ? (result.error?.startsWith("timeout") ? " (timeout)" : " (network error)") : ""}`,
    });
  }

  /** Records one attempt and the delivery's new state in one transaction. */
  private finish(row: DeliveryRow, started: number, result: AttemptResult): void {
    this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      // Read the count again: a redeliver may have run while this attempt was in flight.
      const current = this.ctx.storage.sql
        .exec<{ attempt_count: number; deadline_at: number }>("SELECT attempt_count, deadline_at FROM deliveries WHERE id = ?", row.id)
        .toArray()[0];
      if (!current) return;
      const attempt = current.attempt_count + 1;
      let status: DeliveryStatus = result.outcome === "delivered" ? "delivered" : "failed";
      let next: number | null = null;
      let error = result.error;
      if (result.outcome === "retry") {
        next = nextAttemptAt(result, attempt, now, current.deadline_at);
        if (next === null) error = `${error ?? `HTTP ${result.status_code}`}; gave up: retry window ended`;
        else status = "pending";
      }
      this.ctx.storage.sql.exec(
        `INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_snippet, error, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        row.id,
        attempt,
        started,
        result.duration_ms,
        result.status_code,
        result.response_snippet,
        error,
        result.outcome,
      );
      this.ctx.storage.sql.exec(
        `UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, updated_at = ?, last_status_code = ?, last_error = ?
         WHERE id = ?`,
        status,
        attempt,
        next,
        now,
        result.status_code,
        error,
        row.id,
      );
    });
  }

  /** One alarm, at the earliest due delivery (or none). */
  private async scheduleAlarm(): Promise<void> {
    const row = this.ctx.storage.sql
      .exec<{ next: number | null }>("SELECT MIN(next_attempt_at) AS next FROM deliveries WHERE status = 'pending'")
      .toArray()[0];
    const next = row?.next ?? null;
    if (next === null) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    const current = await this.ctx.storage.getAlarm();
    if (current !== next) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    const before = now - RETENTION_MS;
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM inbound_webhooks WHERE expires_at <= ?", now);
      this.ctx.storage.sql.exec(
        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE status != 'pending' AND updated_at < ?)",
        before,
      );
      this.ctx.storage.sql.exec("DELETE FROM deliveries WHERE status != 'pending' AND updated_at < ?", before);
      this.ctx.storage.sql.exec(
        "DELETE FROM events WHERE created_at < ? AND id NOT IN (SELECT event_id FROM deliveries) AND id NOT IN (SELECT event_id FROM inbound_webhooks)",
        before,
      );
    });
  }

  // --- the deliveries API ---------------------------------------------------------

  listDeliveries(query: DeliveryListQuery): DeliveryList {
    const where: string[] = [];
    const bindings: (string | number)[] = [];
    if (query.status) where.push("status = ?"), bindings.push(query.status);
    if (query.type) where.push("type = ?"), bindings.push(query.type);
    if (query.connection_id) where.push("connection_id = ?"), bindings.push(query.connection_id);
    if (query.cursor) where.push("seq < ?"), bindings.push(Number(query.cursor));
    const sql = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    const rows = this.ctx.storage.sql.exec<DeliveryRow>(sql, ...bindings, query.limit + 1).toArray();
    const page = rows.slice(0, query.limit);
    const more = rows.length > query.limit;
    return { data: page.map(toView), next_cursor: more ? String(page[page.length - 1].seq) : null };
  }

  getDelivery(id: string): DeliveryDetail | null {
    const row = this.ctx.storage.sql.exec<DeliveryRow>("SELECT * FROM deliveries WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    const attempts = this.ctx.storage.sql
      .exec<AttemptRow>(
        "SELECT attempt, started_at, duration_ms, status_code, response_snippet, error, outcome FROM attempts WHERE delivery_id = ? ORDER BY attempt",
        id,
      )
      .toArray()
      .map(toAttemptView);
    const event = this.ctx.storage.sql.exec<{ body: string }>("SELECT body FROM events WHERE id = ?", row.event_id).toArray()[0];
    return { ...toView(row), attempts, event: event ? (JSON.parse(event.body) as Record<string, unknown>) : {} };
  }

  /**
   * Sends a delivery again, now, with a fresh retry window; to the endpoint's
   * current URL when one is set (the user may have fixed it). Same `webhook-id`,
   * so receivers that dedupe still can.
   */
  async redeliver(id: string): Promise<DeliveryDetail | null> {
    const found = this.ctx.storage.transactionSync(() => {
      const row = this.ctx.storage.sql.exec<DeliveryRow>("SELECT * FROM deliveries WHERE id = ?", id).toArray()[0];
      if (!row) return false;
      const now = Date.now();
      const env = this.readEnvironment();
      const current = row.endpoint === "secondary" ? env.secondary_webhook_url : env.webhook_url;
      this.ctx.storage.sql.exec(
        "UPDATE deliveries SET status = 'pending', url = ?, next_attempt_at = ?, deadline_at = ?, updated_at = ? WHERE id = ?",
        current ?? row.url,
        now,
        now + DELIVERY_WINDOW_MS,
        now,
        id,
      );
      return true;
    });
    if (!found) return null;
    await this.scheduleAlarm();
    return this.getDelivery(id);
  }
}

function toView(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    event_id: row.event_id,
    type: row.type as EventType,
    connection_id: row.connection_id,
    provider_config_key: row.provider_config_key,
    endpoint: row.endpoint as Endpoint,
    url: row.url,
    status: row.status as DeliveryStatus,
    attempt_count: row.attempt_count,
    next_attempt_at: row.status === "pending" && row.next_attempt_at !== null ? iso(row.next_attempt_at) : null,
    deadline_at: iso(row.deadline_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
  };
}

function toAttemptView(row: AttemptRow): AttemptView {
  return {
    attempt: row.attempt,
    started_at: iso(row.started_at),
    duration_ms: row.duration_ms,
    status_code: row.status_code,
    response_snippet: row.response_snippet,
    error: row.error,
    outcome: row.outcome as AttemptView["outcome"],
  };
}
