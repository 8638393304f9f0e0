import { DurableObject } from "cloudflare:workers";
import { createConnectSessionStore, type ConnectSession, type ConnectSessionStore, type SessionClaim, type SessionLookup } from "../connect/session-store";
import {
  createConnectionIndex,
  type ConnectionFilter,
  type ConnectionIndex,
  type ConnectionPage,
  type ConnectionPatch,
  type ConnectionRecord,
  type InsertResult,
  type JsonObject,
  type MetadataResult,
  type NewConnection,
} from "../connections/index-store";
import { createDashboardSessionStore, type DashboardSessionStore } from "../dashboard/session-store";
import { createIntegrationStore, type IntegrationRecord, type IntegrationStore } from "../integrations/store";
import { createReservations, type Reservations, type ReserveResult } from "../connections/reservations";
import { REGISTRY_MIGRATIONS } from "./registry-schema";
import { migrate } from "./schema";

/**
 * The environment's strongly consistent registry: integrations and the
 * connection index. KV holds the (encrypted) secrets the hot path reads; this
 * object is what list/get read, so a created connection is listed at once.
 *
 * Each table is its own store (src/integrations, src/connections, src/connect/session-store); this
 * class is the RPC surface and runs the steps that span stores or must not
 * interleave in one transaction.
 */
export class Registry extends DurableObject<Env> {
  private readonly integrations: IntegrationStore;
  private readonly connections: ConnectionIndex;
  private readonly reservations: Reservations;
  private readonly connectSessions: ConnectSessionStore;
  private readonly dashboardSessions: DashboardSessionStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Synchronously, in the constructor: no request can see the object before its tables are current.
    migrate(ctx.storage, REGISTRY_MIGRATIONS);
    const sql = ctx.storage.sql;
    this.integrations = createIntegrationStore(sql);
    this.connections = createConnectionIndex(sql);
    this.reservations = createReservations(sql);
    this.connectSessions = createConnectSessionStore(sql, (fn) => ctx.storage.transactionSync(fn));
    this.dashboardSessions = createDashboardSessionStore(sql);
  }

  // -- dashboard login sessions (src/dashboard): a cookie counts only while its id is here --

  startDashboardSession(sid: string, expiresAt: number): void {
    this.dashboardSessions.start(sid, expiresAt, Date.now());
  }

  dashboardSessionActive(sid: string): boolean {
    return this.dashboardSessions.active(sid, Date.now());
  }

  endDashboardSession(sid: string): void {
    this.dashboardSessions.end(sid);
  }

  // -- connect sessions (src/connect): keyed by the token's SHA-256, never the token --

  createConnectSession(tokenHash: string, session: ConnectSession): void {
    this.connectSessions.create(tokenHash, session);
  }

  openConnectSession(tokenHash: string, browserHash: string): SessionLookup {
    return this.connectSessions.open(tokenHash, browserHash, Date.now());
  }

  readConnectSession(tokenHash: string, browserHash: string): SessionLookup {
    return this.connectSessions.read(tokenHash, browserHash, Date.now());
  }

  claimConnectSession(tokenHash: string, browserHash: string): SessionClaim {
    return this.connectSessions.claim(tokenHash, browserHash, Date.now());
  }

  releaseConnectSession(tokenHash: string, claim: string): void {
    this.connectSessions.release(tokenHash, claim);
  }

  completeConnectSession(tokenHash: string, claim: string, connection: { provider_config_key: string; connection_id: string }): boolean {
    return this.connectSessions.complete(tokenHash, claim, connection, Date.now());
  }

  // -- integrations ---------------------------------------------------------

  createIntegration(input: { unique_key: string; provider: string; display_name: string }): InsertResult<IntegrationRecord> {
    const now = new Date().toISOString();
    const record: IntegrationRecord = { ...input, created_at: now, updated_at: now };
    return this.integrations.insert(record) ? { ok: true, value: record } : { ok: false, reason: "duplicate" };
  }

  listIntegrations(): IntegrationRecord[] {
    return this.integrations.list();
  }

  getIntegration(providerConfigKey: string): IntegrationRecord | null {
    return this.integrations.get(providerConfigKey);
  }

  updateIntegration(providerConfigKey: string, patch: { display_name?: string }): IntegrationRecord | null {
    return this.integrations.update(providerConfigKey, patch);
  }

  /** Connection ids of an integration (the caller removes their secrets and objects first). */
  integrationConnectionIds(providerConfigKey: string): string[] {
    return this.connections.idsOf(providerConfigKey);
  }

  /**
   * Removes the integration and its whole connection index at once; returns the
   * connection ids removed (`null` if there was no such integration), so the
   * caller can also clean up connections created after it listed them.
   */
  deleteIntegration(providerConfigKey: string): string[] | null {
    return this.ctx.storage.transactionSync(() => {
      const ids = this.connections.idsOf(providerConfigKey);
      this.connections.deleteAllOf(providerConfigKey);
      this.reservations.releaseAllOf(providerConfigKey);
      return this.integrations.delete(providerConfigKey) ? ids : null;
    });
  }

  // -- connections ----------------------------------------------------------

  /**
   * Claims a connection id before its key is verified and its secret written,
   * so two concurrent creates of one id cannot overwrite each other's secret.
   */
  reserveConnection(providerConfigKey: string, connectionId: string): ReserveResult {
    return this.ctx.storage.transactionSync((): ReserveResult => {
      if (!this.integrations.get(providerConfigKey)) return { ok: false, reason: "no_integration" };
      if (this.connections.get(providerConfigKey, connectionId)) return { ok: false, reason: "duplicate" };
      const now = Date.now();
      const heldUntil = this.reservations.heldUntil(providerConfigKey, connectionId, now);
      if (heldUntil !== null) return { ok: false, reason: "being_created", retryAfterMs: heldUntil - now };
      return { ok: true, token: this.reservations.hold(providerConfigKey, connectionId, now) };
    });
  }

  /** How long a create still holds an id that is not indexed (ms), or `null` when none does. */
  connectionReservation(providerConfigKey: string, connectionId: string): number | null {
    const now = Date.now();
    const heldUntil = this.reservations.heldUntil(providerConfigKey, connectionId, now);
    return heldUntil === null ? null : heldUntil - now;
  }

  /** Gives a claimed id back (the key was rejected or the secret could not be written). */
  releaseConnection(providerConfigKey: string, connectionId: string, token: string): void {
    this.reservations.release(providerConfigKey, connectionId, token);
  }

  /** Inserts an index row for a reserved id; refuses a duplicate id or an integration deleted meanwhile. */
  insertConnection(input: NewConnection, token: string): InsertResult<ConnectionRecord> {
    return this.ctx.storage.transactionSync((): InsertResult<ConnectionRecord> => {
      if (!this.integrations.get(input.provider_config_key)) return { ok: false, reason: "no_integration" };
      this.reservations.release(input.provider_config_key, input.connection_id, token);
      const now = new Date().toISOString();
      const record: ConnectionRecord = { ...input, created_at: now, updated_at: now };
      return this.connections.insert(record) ? { ok: true, value: record } : { ok: false, reason: "duplicate" };
    });
  }

  getConnection(providerConfigKey: string, connectionId: string): ConnectionRecord | null {
    return this.connections.get(providerConfigKey, connectionId);
  }

  /** Filtered, keyset-paginated list; `null` when the cursor is not one of ours. */
  listConnections(filter: ConnectionFilter): ConnectionPage | null {
    return this.connections.list(filter);
  }

  updateConnection(providerConfigKey: string, connectionId: string, patch: ConnectionPatch): ConnectionRecord | null {
    return this.ctx.storage.transactionSync(() => {
      const current = this.connections.get(providerConfigKey, connectionId);
      if (!current) return null;
      const next: ConnectionRecord = { ...current, ...patch, updated_at: new Date().toISOString() };
      this.connections.write(next);
      return next;
    });
  }

  deleteConnection(providerConfigKey: string, connectionId: string): boolean {
    return this.connections.delete(providerConfigKey, connectionId);
  }

  /** Replaces (or shallow-merges) metadata of several connections: all of them, or none if one is missing. */
  setMetadata(providerConfigKey: string, connectionIds: string[], metadata: JsonObject, mode: "replace" | "merge"): MetadataResult {
    return this.ctx.storage.transactionSync((): MetadataResult => {
      const found = connectionIds.map((id) => this.connections.get(providerConfigKey, id));
      const missing = connectionIds.filter((_, i) => found[i] === null);
      if (missing.length > 0) return { ok: false, missing };
      const now = new Date().toISOString();
      for (const current of found) {
        if (!current) continue;
        const next = mode === "replace" ? metadata : { ...current.metadata, ...metadata };
        this.connections.write({ ...current, metadata: next, updated_at: now });
      }
      return { ok: true, updated: connectionIds };
    });
  }
}
