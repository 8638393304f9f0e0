/**
 * "auth" events: a connection was created, updated (Nango's "override"),
 * deleted, or its key was rejected by the provider. The hook point the
 * outgoing-webhooks issue delivers from; it never carries credentials.
 */
export type AuthEvent = {
  type: "auth";
  operation: "creation" | "override" | "deletion" | "key_rejected";
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

/** Emits an auth event. For now a no-op; delivery must go through `ctx.waitUntil`, never delay the response. */
export function emitAuthEvent(_env: Env, _ctx: BackgroundContext | undefined, _event: Omit<AuthEvent, "type" | "at">): void {
  // Intentionally empty until outgoing webhooks land.
}
