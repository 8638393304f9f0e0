import type { ProviderDefinition } from "../providers/types";
import { resolveConnection } from "../sync/targets";

/** The syncs a provider webhook concerns, from the provider's `syncsByEventPrefix` (e.g. `batch.*` → batches). */
export function syncsForEvent(provider: ProviderDefinition, eventType: string): string[] {
  const byPrefix = provider.webhooks?.syncsByEventPrefix ?? {};
  const names = new Set<string>();
  for (const [prefix, syncs] of Object.entries(byPrefix)) {
    if (eventType.startsWith(prefix)) for (const name of syncs) names.add(name);
  }
  return [...names];
}

/**
 * Runs the named syncs of one connection now, because a provider webhook said
 * their data changed (the ones its key cannot run are left out).
 */
export async function triggerSyncs(env: Env, providerConfigKey: string, connectionId: string, syncNames: string[]): Promise<void> {
  const conn = await resolveConnection(env, providerConfigKey, connectionId);
  const names = syncNames.filter((n) => conn.target.syncs.includes(n));
  if (names.length > 0) await conn.stub.triggerSyncs(conn.target, names, false);
}
