import { verifierFor } from "../connections/credential-check";
import { getProvider } from "../providers/catalog";
import type { SyncDefinition } from "../providers/types";

/**
 * The syncs a connection can run: its provider's, narrowed to the key kind its
 * key is (an admin key on an `openai` integration runs the admin syncs).
 */
export function syncsFor(providerName: string, apiKey: string): SyncDefinition[] {
  const provider = getProvider(providerName);
  if (!provider?.syncs) return [];
  const kind = verifierFor(provider, apiKey)?.name ?? provider.name;
  return provider.syncs.filter((s) => s.keyKind === kind);
}
