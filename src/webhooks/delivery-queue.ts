import type { OperationInput } from "../logs/types";
import { ATTEMPT_TIMEOUT_MS, attemptDelivery, DELIVERY_WINDOW_MS, nextAttemptAt, type AttemptResult } from "./delivery";
import { newDeliveryId, newEventId, type EventType, type OutgoingEvent, type OutgoingEventInput } from "./events";
import type { AttemptView, DeliveryDetail, DeliveryList, DeliveryListQuery, DeliveryStatus, DeliveryView } from "./schemas";
import { nangoHmacSha256, outgoingBodyText } from "./nango-body";
import { signStandardWebhook } from "./standard-webhooks";
import { iso } from "../lib/iso-time";

/** A claimed delivery is not picked again for this long: covers one attempt even if the object dies mid-way. */
const CLAIM_LEASE_MS = ATTEMPT_TIMEOUT_MS + 20_000;
/** Deliveries attempted per alarm run; the rest go on the next (immediate) alarm. */
const BATCH_SIZE = 20;
/** Finished deliveries and their events are kept this long for the deliveries API. */
const RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

export type Endpoint = DeliveryView["endpoint"];

/** The URL configured for each endpoint (null: none, so no delivery there). */
export type EndpointUrls = Record<Endpoint, string | null>;

export type EnqueueResult = { event_id: string; delivery_ids: string[] };

/** A delivery leased to the caller; `body`: its event's, when the caller has it in memory already. */
export type ClaimedDelivery = DeliveryRow & { body?: string };

export type DeliveryRow = {
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

type DeliveryQueueDeps = {
  sql: SqlStorage;
  transaction: <T>(fn: () => T) => T;
  now?: () => number;
  /** The secrets that sign an attempt starting at `at`, current first. */
  signingSecrets: (at: number) => string[];
  /** One operation-log line per attempt. */
  log: (op: OperationInput) => void;
  /** A new delivery's id (default `whd_<random>`; a connection's object puts its own id in it). */
  newId?: () => string;
  /** Told every delivery whose state changed (inserted, attempted, redelivered), inside the change's transaction. */
  changed?: (row: DeliveryRow) => void;
};

/**
 * Outgoing events and their deliveries with every attempt. A delivery is
 * written before it is attempted and every state change is one transaction,
 * so nothing is lost if the object restarts. `insert`, `redeliver` and
 * `prune` join the caller's transaction (they go with settings or inbound
 * ids); the alarm-side steps (`claimDue`, an attempt's outcome) run their own.
 */
export function createDeliveryQueue({
  sql,
  transaction,
  now = () => Date.now(),
  signingSecrets,
  log,
  newId = newDeliveryId,
  changed = () => undefined,
}: DeliveryQueueDeps) {
  const eventBody = (id: string) => sql.exec<{ body: string }>("SELECT body FROM events WHERE id = ?", id).toArray()[0];
  const deliveryRow = (id: string) => sql.exec<DeliveryRow>("SELECT * FROM deliveries WHERE id = ?", id).toArray()[0];

  /**
   * Stores the event and one pending delivery per configured URL, due now; or,
   * with `claim`, already leased to the caller, which attempts them at once
   * (`claimed`: no second transaction to claim what was just written; each
   * carries the event's body, so the attempt does not read it back, and is
   * not passed to `changed`: the caller reports it if it must).
   * `eventId`: the id the caller already gave the event (default: a new one).
   */
  function insert(input: OutgoingEventInput, urls: EndpointUrls, claim = false, eventId = newEventId()): EnqueueResult & { claimed: ClaimedDelivery[] } {
    const at = now();
    const due = claim ? at + CLAIM_LEASE_MS : at;
    const claimed: ClaimedDelivery[] = [];
    const event: OutgoingEvent = {
      id: eventId,
      type: input.type,
      from: "terapi",
      connection_id: input.connection_id,
      provider_config_key: input.provider_config_key,
      provider: input.provider,
      created_at: iso(at),
      payload: input.payload,
    };
    const body = outgoingBodyText(event);
    sql.exec(
      "INSERT INTO events (id, type, connection_id, provider_config_key, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      event.id,
      event.type,
      event.connection_id,
      event.provider_config_key,
      body,
      at,
    );
    const delivery_ids: string[] = [];
    // Primary first: the ids come back in this order.
    for (const endpoint of ["primary", "secondary"] as const) {
      const url = urls[endpoint];
      if (!url) continue;
      const id = newId();
      // RETURNING: the row as stored (its seq too), without reading it back.
      const row = sql
        .exec<DeliveryRow>(
          `INSERT INTO deliveries (id, event_id, type, connection_id, provider_config_key, endpoint, url, status,
             attempt_count, next_attempt_at, deadline_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) RETURNING *`,
          id,
          event.id,
          event.type,
          event.connection_id,
          event.provider_config_key,
          endpoint,
          url,
          due,
          at + DELIVERY_WINDOW_MS,
          at,
          at,
        )
        .one();
      delivery_ids.push(id);
      // A claimed row is the caller's to report (`changed`): it is attempted at once, and its outcome is reported anyway.
      if (claim) claimed.push({ ...row, body });
      else changed(row);
    }
    return { event_id: event.id, delivery_ids, claimed };
  }

  /**
   * Up to a batch of due deliveries, leased so a second run does not take them
   * while they are attempted. `busy`: ids this object is attempting or holding
   * for a slot right now; they are not taken again, and a lease that ran out
   * meanwhile is renewed (the lease covers an object that died, not one that waits).
   */
  function claimDue(at: number, busy: ReadonlySet<string> = new Set()): DeliveryRow[] {
    return transaction(() => {
      if (busy.size)
        sql.exec(
          "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at <= ? AND id IN (SELECT value FROM json_each(?))",
          at + CLAIM_LEASE_MS,
          at,
          JSON.stringify([...busy]),
        );
      const rows = sql
        .exec<DeliveryRow>("SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?", at, BATCH_SIZE)
        .toArray();
      for (const row of rows) sql.exec("UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", at + CLAIM_LEASE_MS, row.id);
      return rows;
    });
  }

  /**
   * POSTs one claimed delivery, signed, and records the outcome. Resolves to the delivery as
   * stored after it (null if it is gone): the caller re-arms its alarm only when one is pending again.
   */
  async function attempt(row: ClaimedDelivery): Promise<DeliveryRow | null> {
    const eventRow = row.body === undefined ? eventBody(row.event_id) : { body: row.body };
    if (!eventRow)
      return finish(row, now(), { outcome: "failed", status_code: null, duration_ms: 0, response_snippet: null, error: "event missing", retry_after_ms: null });
    const started = now();
    const timestamp = Math.floor(started / 1000);
    const secrets = signingSecrets(started);
    const [signatures, nangoSignature] = await Promise.all([
      Promise.all(secrets.map((secret) => signStandardWebhook(secret, row.event_id, timestamp, eventRow.body))),
      // Nango's header carries one signature: the current secret's.
      nangoHmacSha256(secrets[0] ?? "", eventRow.body),
    ]);
    const result = await attemptDelivery({
      url: row.url,
      body: eventRow.body,
      headers: {
        "content-type": "application/json",
        "user-agent": "terapi-webhooks/1",
        "webhook-id": row.event_id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatures.join(" "),
        "x-nango-hmac-sha256": nangoSignature,
      },
    });
    const stored = finish(row, started, result);
    // Per connection, next to its proxy calls: the event type and the outcome, never the URL nor the body.
    log({
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
    return stored;
  }

  /** The delivery's state after attempt number `attemptNo` ended with `result`, at `at`. */
  function outcome(result: AttemptResult, attemptNo: number, at: number, deadline: number) {
    let status: DeliveryStatus = result.outcome === "delivered" ? "delivered" : "failed";
    let next: number | null = null;
    let error = result.error;
    if (result.outcome === "retry") {
      next = nextAttemptAt(result, attemptNo, at, deadline);
      if (next === null) error = `${error ?? `HTTP ${result.status_code}`}; gave up: retry window ended`;
      else status = "pending";
    }
    return { status, next, error };
  }

  /**
   * Records one attempt and the delivery's new state in one transaction. The
   * update is guarded by the count and deadline the attempt started from, so
   * the usual case is one UPDATE … RETURNING and one INSERT; if a redeliver
   * ran while this attempt was in flight, the stored row is read and counted on. Returns the
   * delivery as stored after (null when it is gone).
   */
  function finish(row: DeliveryRow, started: number, result: AttemptResult): DeliveryRow | null {
    return transaction(() => {
      const at = now();
      const update = (base: { attempt_count: number; deadline_at: number }, guarded: boolean) => {
        const attemptNo = base.attempt_count + 1;
        const { status, next, error } = outcome(result, attemptNo, at, base.deadline_at);
        const updated = sql
          .exec<DeliveryRow>(
            `UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, updated_at = ?, last_status_code = ?, last_error = ?
             WHERE id = ?${guarded ? " AND attempt_count = ? AND deadline_at = ?" : ""} RETURNING *`,
            status,
            attemptNo,
            next,
            at,
            result.status_code,
            error,
            row.id,
            ...(guarded ? [base.attempt_count, base.deadline_at] : []),
          )
          .toArray()[0];
        return updated ? { updated, attemptNo, error } : null;
      };
      let done = update(row, true);
      if (!done) {
        const current = sql
          .exec<{ attempt_count: number; deadline_at: number }>("SELECT attempt_count, deadline_at FROM deliveries WHERE id = ?", row.id)
          .toArray()[0];
        if (!current) return null;
        done = update(current, false);
        if (!done) return null;
      }
      sql.exec(
        `INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_snippet, error, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        row.id,
        done.attemptNo,
        started,
        result.duration_ms,
        result.status_code,
        result.response_snippet,
        done.error,
        result.outcome,
      );
      changed(done.updated);
      return done.updated;
    });
  }

  /** When the earliest pending delivery is due (a claimed one: when its lease ends), or null. */
  function nextDue(): number | null {
    const row = sql.exec<{ next: number | null }>("SELECT MIN(next_attempt_at) AS next FROM deliveries WHERE status = 'pending'").toArray()[0];
    return row?.next ?? null;
  }

  /**
   * Drops finished deliveries past the retention, their attempts, and old
   * events nothing points at any more (`keepEventsIn`: a subquery of event ids
   * other stores still reference).
   */
  function prune(at: number, keepEventsIn: string): void {
    const before = at - RETENTION_MS;
    sql.exec("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE status != 'pending' AND updated_at < ?)", before);
    sql.exec("DELETE FROM deliveries WHERE status != 'pending' AND updated_at < ?", before);
    sql.exec(`DELETE FROM events WHERE created_at < ? AND id NOT IN (SELECT event_id FROM deliveries) AND id NOT IN (${keepEventsIn})`, before);
  }

  function list(query: DeliveryListQuery): DeliveryList {
    const where: string[] = [];
    const bindings: (string | number)[] = [];
    if (query.status) (where.push("status = ?"), bindings.push(query.status));
    if (query.type) (where.push("type = ?"), bindings.push(query.type));
    if (query.connection_id) (where.push("connection_id = ?"), bindings.push(query.connection_id));
    if (query.cursor) (where.push("seq < ?"), bindings.push(Number(query.cursor)));
    const text = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    const rows = sql.exec<DeliveryRow>(text, ...bindings, query.limit + 1).toArray();
    const page = rows.slice(0, query.limit);
    const more = rows.length > query.limit;
    const last = page.at(-1);
    return { data: page.map(toView), next_cursor: more && last ? String(last.seq) : null };
  }

  function get(id: string): DeliveryDetail | null {
    const row = deliveryRow(id);
    if (!row) return null;
    const attempts = sql
      .exec<AttemptRow>(
        "SELECT attempt, started_at, duration_ms, status_code, response_snippet, error, outcome FROM attempts WHERE delivery_id = ? ORDER BY attempt",
        id,
      )
      .toArray()
      .map(toAttemptView);
    const event = eventBody(row.event_id);
    return { ...toView(row), attempts, event: event ? (JSON.parse(event.body) as Record<string, unknown>) : {} };
  }

  /**
   * Makes a delivery pending again, due now, with a fresh retry window; to the
   * endpoint's current URL when one is set (asked only if the delivery exists).
   * False for an unknown id.
   */
  function redeliver(id: string, currentUrl: (endpoint: Endpoint) => string | null): boolean {
    const row = deliveryRow(id);
    if (!row) return false;
    const at = now();
    const url = currentUrl(row.endpoint as Endpoint);
    const updated = sql
      .exec<DeliveryRow>(
        "UPDATE deliveries SET status = 'pending', url = ?, next_attempt_at = ?, deadline_at = ?, updated_at = ? WHERE id = ? RETURNING *",
        url ?? row.url,
        at,
        at + DELIVERY_WINDOW_MS,
        at,
        id,
      )
      .one();
    changed(updated);
    return true;
  }

  return { insert, claimDue, attempt, nextDue, prune, list, get, redeliver };
}

export { toView as toDeliveryView };

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
