import { connectionKey } from "../lib/connection-key";

/** The one Durable Object of a connection, named by its integration and id. */
export function connectionObject(env: Env, providerConfigKey: string, connectionId: string) {
  return env.CONNECTION.get(env.CONNECTION.idFromName(connectionKey(providerConfigKey, connectionId)));
}

/** The environment's registry (integrations, connection index): a single object. */
export function registryObject(env: Env) {
  return env.REGISTRY.get(env.REGISTRY.idFromName("registry"));
}

/** The environment's outgoing-webhook settings: a single object, read through src/webhooks/settings-cache.ts. */
export function outboxObject(env: Env) {
  return env.OUTBOX.get(env.OUTBOX.idFromName("outbox"));
}
