import { randomHex } from "../crypto/random";

/**
 * Outgoing webhook events (terapi → the user's webhook URLs), in Nango's spirit:
 * one envelope for every kind, the kind-specific data under `payload`.
 */

export const EVENT_TYPES = ["auth", "sync", "forward", "async_action", "async_proxy", "usage"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A JSON value (what crosses the RPC boundary and is stored). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** What a feature hands to `emitEvent`. */
export type OutgoingEventInput = {
  type: EventType;
  connection_id: string;
  provider_config_key: string;
  /** Provider registry name, e.g. `openai`. */
  provider: string;
  /**
   * Kind-specific data:
   * - `auth`: `{operation: "creation"|"override"|"deletion"|"key_rejected", success, end_user, error?}`
   * - `sync`: `{sync_name, model, success, added, updated, deleted, error?}`
   * - `forward`: the provider's webhook body, unchanged
   * - `async_action` / `async_proxy`: `{id, status, ...result}`
   * - `usage`: `{threshold: 80|100, metric, period, limit, used, period_start, period_end, price_version}` (once each per period)
   */
  payload: Json;
};

/** The body POSTed to the user (also the `webhook-id` is `id`). */
export type OutgoingEvent = OutgoingEventInput & {
  id: string;
  from: "terapi";
  /** ISO 8601. */
  created_at: string;
};

export function newEventId(): string {
  return `evt_${randomId()}`;
}

export function newDeliveryId(): string {
  return `whd_${randomId()}`;
}

const randomId = () => randomHex(16);
