import type { ProviderDefinition } from "../providers/types";
import { openaiActions } from "./openai";
import type { ActionDefinition } from "./types";

/**
 * Each provider's typed actions, by provider name. Kept apart from the
 * provider definitions (src/providers) so that the proxy, which reads those
 * on every call, does not load the actions: their zod schemas are built when
 * this module is first loaded (the router, or an async action run), not when
 * the Worker starts (they were most of a cold start's own work).
 */
const byProvider: Record<string, ActionDefinition[]> = { openai: openaiActions };

export const actionsOf = (provider: ProviderDefinition): ActionDefinition[] =>
  (Object.hasOwn(byProvider, provider.name) ? byProvider[provider.name] : undefined) ?? [];
