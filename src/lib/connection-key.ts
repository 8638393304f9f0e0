/**
 * One string per connection (integration key, connection id): the name of its
 * Durable Object and the key of every per-connection map. NUL cannot appear in
 * either id, so two different connections never share a key.
 */
export const connectionKey = (providerConfigKey: string, connectionId: string) => `${providerConfigKey}\u0000${connectionId}`;
