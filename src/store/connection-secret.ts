/**
 * What the hot path needs about one connection, stored encrypted in KV under
 * `secretKvKey(providerConfigKey, connectionId)`: one KV read answers a proxy call.
 */
export type ConnectionSecret = {
  providerConfigKey: string;
  connectionId: string;
  /** Provider registry name, e.g. `openai` (copied from the integration). */
  provider: string;
  credentials: { type: "API_KEY"; apiKey: string };
  config: { organization_id?: string; project_id?: string; webhook_secret?: string };
};

export const secretKvKey = (providerConfigKey: string, connectionId: string) =>
  `conn:${encodeURIComponent(providerConfigKey)}:${encodeURIComponent(connectionId)}`;

/** Additional data bound into the ciphertext: a value copied to another connection's key fails to decrypt. */
export const secretAad = (providerConfigKey: string, connectionId: string) =>
  `terapi/connection/v1/${providerConfigKey}/${connectionId}`;
