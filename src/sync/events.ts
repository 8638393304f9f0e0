import { emitEvent } from "../events/emit";
import { recordOperation } from "../logs/record";
import type { SyncContext } from "./engine";

/** A run's outcome for the `sync` webhook: counts of what it changed, and where to read them from. */
export type SyncEventPayload = {
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

/** "sync" events: a run finished or failed. Stored by the outbox, then delivered at least once. */
export async function emitSyncEvent(env: Env, ctx: SyncContext, payload: SyncEventPayload): Promise<void> {
  await emitEvent(env, {
    type: "sync",
    provider_config_key: ctx.providerConfigKey,
    connection_id: ctx.connectionId,
    provider: ctx.provider,
    payload: { ...payload, responseResults: { added: payload.added, updated: payload.updated, deleted: payload.deleted } },
  });
  // One operation-log line per finished run. This runs in the connection's object, which stays up
  // while the batched flush is pending, so the promise needs no request to hold it.
  const started = payload.modified_after ? Date.parse(payload.modified_after) : Date.now();
  recordOperation(env, (p) => void p.catch(() => undefined), {
    provider_config_key: ctx.providerConfigKey,
    connection_id: ctx.connectionId,
    type: "sync",
    status: payload.success ? "success" : "failure",
    duration_ms: Math.max(0, Date.now() - started),
    started_at: started,
    detail: `${payload.sync_name}: +${payload.added} ~${payload.updated} -${payload.deleted}${payload.error ? ` (${payload.error})` : ""}`,
  });
}
