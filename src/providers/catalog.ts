import { openai, openaiAdmin } from "./openai";
import type { ProviderDefinition } from "./types";

/** The providers this deployment has (the provider list; "Registry" is the Durable Object of integrations and connections). */
const providers: Record<string, ProviderDefinition> = {
  [openai.name]: openai,
  [openaiAdmin.name]: openaiAdmin,
};

export function getProvider(name: string): ProviderDefinition | undefined {
  return Object.hasOwn(providers, name) ? providers[name] : undefined;
}

export function listProviders(): ProviderDefinition[] {
  return Object.values(providers);
}

/** The provider's base URL for this deployment (only a Worker variable may override it). */
export function providerBaseUrl(provider: ProviderDefinition, env: Env): string {
  const override = provider.baseUrlVar ? (env[provider.baseUrlVar] as unknown) : undefined;
  const base = typeof override === "string" && override ? override : provider.baseUrl;
  return base.replace(/\/+$/, "");
}
