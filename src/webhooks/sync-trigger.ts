import type { ProviderDefinition } from "../providers/types";

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
 * their data changed. No-op until the sync engine lands (its own issue): connect
 * it here, e.g. `await connectionObject(env, pck, cid).triggerSyncs(syncNames)`.
 * The scheduled runs still catch the change meanwhile.
 */
export async function triggerSyncs(
  _env: Env,
  _providerConfigKey: string,
  _connectionId: string,
  _syncNames: string[],
): Promise<void> {}
