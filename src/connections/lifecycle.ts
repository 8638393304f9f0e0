import { logUnhandled } from "../error-log";
import type { ConnectionPatch, ConnectionRecord, EndUser, IndexedConnectionConfig, JsonObject } from "./index-store";
import type { IntegrationRecord } from "../integrations/store";
import { registryClient } from "../bindings/registry-client";
import { connectionObject } from "../bindings/stubs";
import { ApiError, conflict, providerUnavailable, unknownConnection, unknownIntegration } from "../errors";
import type { ReserveResult } from "./reservations";
import { emitAuthEvent, type BackgroundContext } from "../events/auth";
import { getProvider } from "../providers/catalog";
import type { ProviderDefinition } from "../providers/types";
import { deleteConnectionSecret, hasConnectionSecret, loadConnectionSecret, saveConnectionSecret, type ConnectionSecret } from "../store/connection-secret";
import { syncsFor } from "../sync/definitions";
import { CredentialRejected, verifyCredentials } from "./credential-check";
import { maskSecret } from "./mask";
import { connectionCache } from "./cache";

type ConnectionConfigInput = {
  organization_id?: string | null;
  project_id?: string | null;
  webhook_secret?: string | null;
};

type CreateConnectionInput = {
  provider_config_key: string;
  connection_id?: string;
  credentials: { type: "API_KEY"; apiKey: string };
  connection_config?: ConnectionConfigInput;
  metadata?: JsonObject;
  end_user?: EndUser | null;
  tags?: Record<string, string>;
};

type UpdateConnectionInput = Omit<Partial<CreateConnectionInput>, "provider_config_key" | "connection_id">;

/** Cleanup fan-out width: enough to be quick, few enough to stay under subrequest concurrency limits. */
const CLEANUP_BATCH = 10;

async function requireIntegration(env: Env, key: string): Promise<{ integration: IntegrationRecord; provider: ProviderDefinition }> {
  const integration = await registryClient(env).getIntegration(key);
  if (!integration) throw unknownIntegration(key);
  const provider = getProvider(integration.provider);
  if (!provider) throw providerUnavailable(integration.provider, `Integration '${key}'`);
  return { integration, provider };
}

/** Applies a config patch: absent keeps, null clears, a string sets. */
function mergeConfig(current: ConnectionSecret["config"], patch: ConnectionConfigInput | undefined): ConnectionSecret["config"] {
  const next: ConnectionSecret["config"] = { ...current };
  for (const key of ["organization_id", "project_id", "webhook_secret"] as const) {
    const value = patch?.[key];
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  return next;
}

function indexedConfig(config: ConnectionSecret["config"]): IndexedConnectionConfig {
  return {
    ...(config.organization_id ? { organization_id: config.organization_id } : {}),
    ...(config.project_id ? { project_id: config.project_id } : {}),
    has_webhook_secret: Boolean(config.webhook_secret),
    ...(config.webhook_secret ? { webhook_secret_hint: maskSecret(config.webhook_secret) } : {}),
  };
}

/** Verifies, and tells the auth hook when the provider refused the key. */
async function verifyOrReport(
  env: Env,
  ctx: BackgroundContext | undefined,
  provider: ProviderDefinition,
  secret: ConnectionSecret,
  attempted: "creation" | "override",
  endUser?: EndUser | null,
) {
  try {
    await verifyCredentials(env, provider, secret);
  } catch (err) {
    if (err instanceof CredentialRejected)
      emitAuthEvent(env, ctx, {
        operation: "key_rejected",
        attempted,
        success: false,
        provider_config_key: secret.providerConfigKey,
        connection_id: secret.connectionId,
        provider: secret.provider,
        end_user: endUser,
        error: { code: err.code, message: err.message },
      });
    throw err;
  }
}

const connectionExists = (providerConfigKey: string, id: string) =>
  conflict("connection_exists", `Connection '${id}' already exists for integration '${providerConfigKey}'`);

/** Another create holds the id (or crashed holding it): not a connection yet, and free again after `retryAfterMs`. */
const connectionBeingCreated = (providerConfigKey: string, id: string, retryAfterMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError(
    409,
    "connection_being_created",
    `Connection '${id}' of integration '${providerConfigKey}' is being created by another request (or its creation was interrupted); retry in ${seconds} s`,
    undefined,
    { "retry-after": String(seconds) },
  );
};

function refusedClaim(claim: Exclude<ReserveResult, { ok: true }>, providerConfigKey: string, id: string): ApiError {
  if (claim.reason === "no_integration") return unknownIntegration(providerConfigKey);
  if (claim.reason === "being_created") return connectionBeingCreated(providerConfigKey, id, claim.retryAfterMs);
  return connectionExists(providerConfigKey, id);
}

/**
 * Claim the id → verify → write the KV secret as pending → insert the index
 * row → write the secret again as committed. The claim keeps a concurrent
 * create of the same id from overwriting this secret. A pending secret is used
 * only once its index row exists (see `loadConnectionSecret`), so a create that
 * dies half-way leaves no working key the API does not know about; if anything
 * fails before the row, the value is removed, and a leftover one (a crash) is
 * removed by DELETE.
 */
export async function createConnection(env: Env, ctx: BackgroundContext | undefined, input: CreateConnectionInput): Promise<ConnectionRecord> {
  const registry = registryClient(env);
  const { integration, provider } = await requireIntegration(env, input.provider_config_key);
  const providerConfigKey = integration.unique_key;
  const connectionId = input.connection_id ?? crypto.randomUUID();
  const claim = await registry.reserveConnection(providerConfigKey, connectionId);
  if (!claim.ok) throw refusedClaim(claim, providerConfigKey, connectionId);

  const secret: ConnectionSecret = {
    providerConfigKey,
    connectionId,
    provider: integration.provider,
    credentials: { type: "API_KEY", apiKey: input.credentials.apiKey },
    config: mergeConfig({}, input.connection_config),
  };
  const recordId = crypto.randomUUID();
  let written = false;
  let inserted: Awaited<ReturnType<typeof registry.insertConnection>>;
  try {
    await verifyOrReport(env, ctx, provider, secret, "creation", input.end_user);
    written = true;
    await saveConnectionSecret(env, secret, recordId);
    inserted = await registry.insertConnection(
      {
        id: recordId,
        provider_config_key: providerConfigKey,
        connection_id: connectionId,
        provider: integration.provider,
        key_hint: maskSecret(secret.credentials.apiKey),
        connection_config: indexedConfig(secret.config),
        metadata: input.metadata ?? {},
        end_user: input.end_user ?? null,
        tags: input.tags ?? {},
      },
      claim.token,
    );
  } catch (err) {
    if (written) await deleteConnectionSecret(env, providerConfigKey, connectionId);
    await registry.releaseConnection(providerConfigKey, connectionId, claim.token);
    throw err;
  }
  if (!inserted.ok) {
    await deleteConnectionSecret(env, providerConfigKey, connectionId);
    throw inserted.reason === "no_integration" ? unknownIntegration(providerConfigKey) : connectionExists(providerConfigKey, connectionId);
  }
  await commitSecret(env, secret);
  // A lookup just before the create may be remembered as "no such connection" in this isolate.
  connectionCache.evict(providerConfigKey, connectionId);
  await startConnectionSyncs(env, secret);
  emitAuthEvent(env, ctx, {
    operation: "creation",
    success: true,
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    provider: integration.provider,
    end_user: inserted.value.end_user,
  });
  return inserted.value;
}

/**
 * The index row exists: the secret loses its pending mark, so the hot path
 * reads it without asking the registry. If this write fails the connection
 * still works (the pending value's row is found). A DELETE that ran between the
 * row and this write would have its secret written back: look once more.
 */
async function commitSecret(env: Env, secret: ConnectionSecret): Promise<void> {
  const { providerConfigKey, connectionId } = secret;
  try {
    await saveConnectionSecret(env, secret);
  } catch (err) {
    logUnhandled("connection secret left pending", err, { fields: { connection_id: connectionId } });
    return;
  }
  // Another row under the id (deleted, then created again) owns the value it wrote itself: only a missing row means ours is a leftover.
  if (!(await registryClient(env).getConnection(providerConfigKey, connectionId))) await deleteConnectionSecret(env, providerConfigKey, connectionId);
}

/** The connection's syncs get their schedules, first runs now; the connection stands even if this fails (any sync call registers them again). */
async function startConnectionSyncs(env: Env, secret: ConnectionSecret): Promise<void> {
  const syncs = syncsFor(secret.provider, secret.credentials.apiKey).map((d) => d.name);
  if (syncs.length === 0) return;
  const target = { providerConfigKey: secret.providerConfigKey, connectionId: secret.connectionId, provider: secret.provider, syncs };
  await connectionObject(env, secret.providerConfigKey, secret.connectionId)
    .startSyncs(target)
    .catch((err: unknown) => logUnhandled("syncs not started", err, { fields: { connection_id: secret.connectionId } }));
}

/** The stored secret of an indexed connection; its absence means a broken index entry, not a missing connection. */
export async function requireSecret(env: Env, providerConfigKey: string, id: string): Promise<ConnectionSecret> {
  const secret = await loadConnectionSecret(env, providerConfigKey, id);
  if (!secret) throw new ApiError(500, "connection_secret_missing", `Connection '${id}' has no stored credentials; delete and re-create it`);
  return secret;
}

/**
 * Rotates the key and/or changes config, metadata, end user, tags. A new key,
 * organization or project is verified again (same rules as creation) before
 * anything is written.
 */
export async function updateConnection(
  env: Env,
  ctx: BackgroundContext | undefined,
  providerConfigKey: string,
  connectionId: string,
  input: UpdateConnectionInput,
): Promise<ConnectionRecord> {
  const registry = registryClient(env);
  const current = await registry.getConnection(providerConfigKey, connectionId);
  if (!current) throw unknownConnection(providerConfigKey, connectionId);
  const patch: ConnectionPatch = {};

  if (input.credentials !== undefined || input.connection_config !== undefined) {
    const stored = await requireSecret(env, providerConfigKey, connectionId);
    const next: ConnectionSecret = {
      ...stored,
      credentials: input.credentials ? { type: "API_KEY", apiKey: input.credentials.apiKey } : stored.credentials,
      config: mergeConfig(stored.config, input.connection_config),
    };
    const reverify =
      next.credentials.apiKey !== stored.credentials.apiKey ||
      next.config.organization_id !== stored.config.organization_id ||
      next.config.project_id !== stored.config.project_id;
    if (reverify) {
      const provider = getProvider(stored.provider);
      if (!provider) throw providerUnavailable(stored.provider, `Connection '${connectionId}'`);
      await verifyOrReport(env, ctx, provider, next, "override", current.end_user);
    }
    await saveConnectionSecret(env, next);
    // This isolate uses the new key at once; others within the cache's short TTL.
    connectionCache.evict(providerConfigKey, connectionId);
    patch.key_hint = maskSecret(next.credentials.apiKey);
    patch.connection_config = indexedConfig(next.config);
  }
  if (input.metadata !== undefined) patch.metadata = input.metadata;
  if (input.end_user !== undefined) patch.end_user = input.end_user;
  if (input.tags !== undefined) patch.tags = input.tags;

  const updated = await registry.updateConnection(providerConfigKey, connectionId, patch);
  if (!updated) throw unknownConnection(providerConfigKey, connectionId);
  emitAuthEvent(env, ctx, {
    operation: "override",
    success: true,
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    provider: updated.provider,
    end_user: updated.end_user,
  });
  return updated;
}

/** Secret first (the proxy stops working at once), then the object's records/jobs, then the index row. */
async function removeConnection(env: Env, providerConfigKey: string, connectionId: string): Promise<void> {
  await deleteConnectionSecret(env, providerConfigKey, connectionId);
  connectionCache.evict(providerConfigKey, connectionId);
  await connectionObject(env, providerConfigKey, connectionId).destroy();
}

export async function deleteConnection(env: Env, ctx: BackgroundContext | undefined, providerConfigKey: string, connectionId: string): Promise<void> {
  const registry = registryClient(env);
  const current = await registry.getConnection(providerConfigKey, connectionId);
  if (!current) return removeLeftover(env, providerConfigKey, connectionId);
  await removeConnection(env, providerConfigKey, connectionId);
  await registry.deleteConnection(providerConfigKey, connectionId);
  emitAuthEvent(env, ctx, {
    operation: "deletion",
    success: true,
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    provider: current.provider,
    end_user: current.end_user,
  });
}

/**
 * DELETE of an id with no index row: a create in progress is left alone (409
 * with Retry-After); a secret left by a create that died before its row is
 * removed like a connection; otherwise there is nothing to delete.
 */
async function removeLeftover(env: Env, providerConfigKey: string, connectionId: string): Promise<void> {
  const heldMs = await registryClient(env).connectionReservation(providerConfigKey, connectionId);
  if (heldMs !== null) throw connectionBeingCreated(providerConfigKey, connectionId, heldMs);
  if (!(await hasConnectionSecret(env, providerConfigKey, connectionId))) throw unknownConnection(providerConfigKey, connectionId);
  await removeConnection(env, providerConfigKey, connectionId);
}

/** Removes an integration with every connection's secret and Durable Object, then the index at once. */
export async function deleteIntegration(env: Env, ctx: BackgroundContext | undefined, key: string): Promise<void> {
  const registry = registryClient(env);
  const integration = await registry.getIntegration(key);
  if (!integration) throw unknownIntegration(key);
  const ids = await registry.integrationConnectionIds(key);
  for (let i = 0; i < ids.length; i += CLEANUP_BATCH) {
    await Promise.all(ids.slice(i, i + CLEANUP_BATCH).map((id) => removeConnection(env, key, id)));
  }
  const removed = (await registry.deleteIntegration(key)) ?? [];
  // Connections created while the first cleanup ran are no longer indexed: clean them up too.
  const late = removed.filter((id) => !ids.includes(id));
  await Promise.all(late.map((id) => removeConnection(env, key, id)));
  for (const id of new Set([...ids, ...late]))
    emitAuthEvent(env, ctx, { operation: "deletion", success: true, provider_config_key: key, connection_id: id, provider: integration.provider });
}
