import { registryClient } from "../bindings/registry-client";
import { connectionObject } from "../bindings/stubs";
import { ApiError, badRequest, unknownConnection, unknownIntegration } from "../errors";
import type { SyncDefinition } from "../providers/types";
import { loadConnectionSecret } from "../store/connection-secret";
import { syncsFor } from "./definitions";
import type { SyncTarget } from "./engine";

/** A connection the sync API acts on: its object, and the syncs its key can run. */
type ResolvedConnection = { target: SyncTarget; defs: SyncDefinition[]; stub: ReturnType<typeof connectionObject> };

/** Fan-out width over an integration's connections. */
const FAN_OUT = 10;

export async function resolveConnection(env: Env, providerConfigKey: string, connectionId: string): Promise<ResolvedConnection> {
  const secret = await loadConnectionSecret(env, providerConfigKey, connectionId);
  if (!secret) throw unknownConnection(providerConfigKey, connectionId);
  const defs = syncsFor(secret.provider, secret.credentials.apiKey);
  return {
    target: { providerConfigKey, connectionId, provider: secret.provider, syncs: defs.map((d) => d.name) },
    defs,
    stub: connectionObject(env, providerConfigKey, connectionId),
  };
}

/** One connection, or every connection of the integration when no id is given (Nango's optional connection_id). */
export async function resolveConnections(env: Env, providerConfigKey: string, connectionId: string | undefined): Promise<ResolvedConnection[]> {
  if (connectionId !== undefined) return [await resolveConnection(env, providerConfigKey, connectionId)];
  const registry = registryClient(env);
  if (!(await registry.getIntegration(providerConfigKey))) throw unknownIntegration(providerConfigKey);
  const ids = await registry.integrationConnectionIds(providerConfigKey);
  const out: ResolvedConnection[] = [];
  for (let i = 0; i < ids.length; i += FAN_OUT) {
    const batch = await Promise.all(
      ids.slice(i, i + FAN_OUT).map((id) =>
        resolveConnection(env, providerConfigKey, id).catch((err: unknown) => {
          // Deleted meanwhile: not an error for a fan-out.
          if (err instanceof ApiError && err.status === 404) return null;
          throw err;
        }),
      ),
    );
    for (const c of batch) if (c) out.push(c);
  }
  return out;
}

/** The names must all be syncs of these connections (a 400 names the ones that are not). */
export function checkSyncNames(connections: ResolvedConnection[], names: string[]): void {
  const known = new Set(connections.flatMap((c) => c.target.syncs));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0 && connections.length > 0)
    throw badRequest(
      "unknown_sync",
      `Unknown sync${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `'${n}'`).join(", ")}; available: ${[...known].join(", ") || "none"}`,
    );
}
