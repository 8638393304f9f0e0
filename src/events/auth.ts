import { logUnhandled } from "../error-log";
import type { Json } from "../webhooks/events";
import { emitEvent } from "./emit";

/**
 * "auth" events: a connection was created, updated (Nango's "override"),
 * deleted, or its key was rejected by the provider. The hook point the
 * outgoing-webhooks issue delivers from; it never carries credentials.
 */
type AuthEvent = {
  type: "auth";
  operation: "creation" | "override" | "deletion" | "key_rejected";
  /** For `key_rejected`: what was being attempted (Nango's operation of a failed auth). */
  attempted?: "creation" | "override";
  success: boolean;
  provider_config_key: string;
  connection_id: string;
  provider: string;
  end_user?: { id: string; email?: string; display_name?: string } | null;
  /** Why the key was rejected (the provider's reason), for `key_rejected`. */
  error?: { code: string; message: string };
  at: string;
};

/** What an event needs of the request's context: a way to finish delivery after the response. */
export type BackgroundContext = { waitUntil(promise: Promise<unknown>): void };

/**
 * Emits an auth event as an outgoing webhook. Never delays the response nor
 * throws into the caller: the enqueue runs under `ctx.waitUntil`, and once the
 * outbox has stored it, delivery is at least once.
 */
export function emitAuthEvent(env: Env, ctx: BackgroundContext | undefined, event: Omit<AuthEvent, "type" | "at">): void {
  const { provider_config_key, connection_id, provider, operation, attempted, success, end_user, error } = event;
  const payload: { [key: string]: Json } = { operation, success, end_user: end_user ? toJson(end_user) : null };
  if (attempted) payload.attempted = attempted;
  if (error) payload.error = { code: error.code, message: error.message };
  const sent = emitEvent(env, { type: "auth", provider_config_key, connection_id, provider, payload }).catch((err: unknown) =>
    logUnhandled("auth event not enqueued", err, { fields: { provider_config_key, connection_id, operation } }),
  );
  if (ctx) ctx.waitUntil(sent);
}

/** Drops undefined fields (JSON has none). */
function toJson(value: { [key: string]: string | undefined }): Json {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out;
}
