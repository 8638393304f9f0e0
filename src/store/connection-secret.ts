import type { UsageCap } from "../usage/types";
import { keyRing, open, parseSealed, seal, SecretDecryptError, type SealedValue } from "../crypto";
import { registryClient } from "../bindings/registry-client";

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
  /** Optional usage cap (src/usage/gate.ts): cached with the connection, so uncapped calls never look further. */
  usageCap?: UsageCap;
};

export const secretKvKey = (providerConfigKey: string, connectionId: string) =>
  `conn:${encodeURIComponent(providerConfigKey)}:${encodeURIComponent(connectionId)}`;

/** Additional data bound into the ciphertext: a value copied to another connection's key fails to decrypt. */
const secretAad = (providerConfigKey: string, connectionId: string) => `terapi/connection/v1/${providerConfigKey}/${connectionId}`;

// ---------------------------------------------------------------------------
// The store: one KV value per connection, sealed with the environment's key ring.

const KEY_PREFIX = "conn:";

/** KV metadata next to each value: lets the re-encryption pass skip values already on the current key. */
type SecretKvMetadata = { kid: string };

/**
 * What is sealed: the secret, and while its connection is being created the
 * id of the index row it waits for. A pending value is not used until that row
 * exists, so a create that dies between the two writes leaves no working key
 * behind that the API does not know about.
 */
type StoredSecret = ConnectionSecret & { pending?: string };

/**
 * Encrypts and writes one connection's secret (the whole object, bound to its
 * KV key by the aad). `pendingRecordId`: written before the index row
 * `pendingRecordId` exists (creation), usable only once it does.
 */
export async function saveConnectionSecret(env: Env, secret: ConnectionSecret, pendingRecordId?: string): Promise<void> {
  const ring = await keyRing(env);
  const { providerConfigKey, connectionId } = secret;
  const stored: StoredSecret = pendingRecordId === undefined ? secret : { ...secret, pending: pendingRecordId };
  const sealed = await seal(ring, JSON.stringify(stored), secretAad(providerConfigKey, connectionId));
  await env.SECRETS.put(secretKvKey(providerConfigKey, connectionId), JSON.stringify(sealed), {
    metadata: { kid: sealed.kid } satisfies SecretKvMetadata,
  });
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Workers KV refuses longer keys; every id the API accepts makes a shorter one. */
const KV_KEY_MAX_BYTES = 512;

/** The KV key of a connection's secret, or null when the ids cannot name one. */
function kvKeyOrNull(providerConfigKey: string, connectionId: string): string | null {
  // An id with a lone surrogate cannot be encoded, one too long cannot be a KV key: neither names a connection.
  if (LONE_SURROGATE.test(providerConfigKey) || LONE_SURROGATE.test(connectionId)) return null;
  const key = secretKvKey(providerConfigKey, connectionId);
  // Encoded, the key is ASCII: its length is its size.
  return key.length > KV_KEY_MAX_BYTES ? null : key;
}

/** The stored value as it is, pending or not; `null` when there is none (or the ids cannot name one). */
async function readStoredSecret(env: Env, providerConfigKey: string, connectionId: string): Promise<StoredSecret | null> {
  const key = kvKeyOrNull(providerConfigKey, connectionId);
  if (key === null) return null;
  const [stored, ring] = await Promise.all([env.SECRETS.get(key), keyRing(env)]);
  if (stored === null) return null;
  const plaintext = await open(ring, parseSealed(stored), secretAad(providerConfigKey, connectionId));
  return JSON.parse(plaintext) as StoredSecret;
}

/**
 * The hot path: one KV read and one decrypt. `null` when the connection has no
 * secret, or only one whose creation never got its index row. Only a pending
 * value (a create in progress, or one that crashed half-way) costs a look at the
 * registry.
 */
export async function loadConnectionSecret(env: Env, providerConfigKey: string, connectionId: string): Promise<ConnectionSecret | null> {
  const stored = await readStoredSecret(env, providerConfigKey, connectionId);
  if (stored === null) return null;
  const { pending, ...secret } = stored;
  if (pending === undefined) return secret;
  const row = await registryClient(env).getConnection(providerConfigKey, connectionId);
  return row?.id === pending ? secret : null;
}

/** Whether any value is stored for the connection (without opening it). */
export async function hasConnectionSecret(env: Env, providerConfigKey: string, connectionId: string): Promise<boolean> {
  const key = kvKeyOrNull(providerConfigKey, connectionId);
  return key !== null && (await env.SECRETS.get(key)) !== null;
}

export async function deleteConnectionSecret(env: Env, providerConfigKey: string, connectionId: string): Promise<void> {
  await env.SECRETS.delete(secretKvKey(providerConfigKey, connectionId));
}

/** Inverse of `secretKvKey` (both parts are URI-encoded, so the second `:` separates them). */
function parseSecretKvKey(name: string): { providerConfigKey: string; connectionId: string } | null {
  if (!name.startsWith(KEY_PREFIX)) return null;
  const [integration, connection, ...rest] = name.slice(KEY_PREFIX.length).split(":");
  if (integration === undefined || connection === undefined || rest.length > 0) return null;
  return { providerConfigKey: decodeURIComponent(integration), connectionId: decodeURIComponent(connection) };
}

/** `failed`: values that cannot be opened with any key of the ring (left untouched, never fatal for the pass). */
type ReencryptResult = { reencrypted: number; total: number; failed: number };

/**
 * Rewrites every secret not sealed with the current master key, so an old key
 * can be dropped from TERAPI_ENCRYPTION_KEY afterwards. Idempotent; safe to re-run.
 */
export async function reencryptConnectionSecrets(env: Env): Promise<ReencryptResult> {
  const ring = await keyRing(env);
  let reencrypted = 0;
  let total = 0;
  let failed = 0;
  let cursor: string | undefined;
  do {
    const page = await env.SECRETS.list<SecretKvMetadata>({ prefix: KEY_PREFIX, cursor });
    for (const entry of page.keys) {
      const where = parseSecretKvKey(entry.name);
      if (!where) continue;
      total++;
      if (entry.metadata?.kid === ring.current.kid) continue;
      const stored = await env.SECRETS.get(entry.name);
      if (stored === null) continue; // deleted meanwhile
      const aad = secretAad(where.providerConfigKey, where.connectionId);
      let sealed: SealedValue;
      let plaintext: string;
      try {
        sealed = parseSealed(stored);
        if (sealed.kid === ring.current.kid) continue;
        plaintext = await open(ring, sealed, aad);
      } catch (err) {
        if (!(err instanceof SecretDecryptError)) throw err;
        failed++;
        continue;
      }
      const resealed = await seal(ring, plaintext, aad);
      await env.SECRETS.put(entry.name, JSON.stringify(resealed), {
        metadata: { kid: resealed.kid } satisfies SecretKvMetadata,
      });
      reencrypted++;
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return { reencrypted, total, failed };
}
