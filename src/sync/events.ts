import { emitEvent } from "../events/emit";
import type { SyncContext } from "./engine";

/** A run's outcome for the `sync` webhook: counts of what it changed, and where to read them from. */
type SyncEventPayload = {
  sync_name: string;
  model: string;
  run_id: string;
  success: boolean;
  added: number;
  updated: number;
  deleted: number;
  /** The run's start: `GET /records?modified_after=` this returns what it changed. */
  modified_after: string | null;
  error?: string;
};

/** "sync" events: a run finished or failed. Stored by the outbox, then delivered at least once (the run's log line is the engine's). */
export async function emitSyncEvent(env: Env, ctx: SyncContext, payload: SyncEventPayload): Promise<void> {
  await emitEvent(env, {
    type: "sync",
    provider_config_key: ctx.providerConfigKey,
    connection_id: ctx.connectionId,
    provider: ctx.provider,
    payload: { ...payload, responseResults: { added: payload.added, updated: payload.updated, deleted: payload.deleted } },
  });
}
