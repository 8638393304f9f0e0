import { connectionObject } from "../durable-objects/stubs";
import { ApiError } from "../errors";
import { getProvider } from "../providers/registry";
import { loadConnectionSecret } from "../store/connection-secret";
import type { Json } from "./events";
import { verifyStandardWebhook, type VerifyFailure } from "./standard-webhooks";
import { syncsForEvent, triggerSyncs } from "./sync-trigger";

export type InboundWebhook = {
  providerConfigKey: string;
  connectionId: string;
  headers: Headers;
  /** The raw body bytes, exactly as received: the signature covers them. */
  body: Uint8Array;
};

export type InboundResult = { duplicate: boolean; event_id: string; event_type: string };

const FAILURE_MESSAGES: Record<VerifyFailure, string> = {
  missing_headers: "Missing webhook-id, webhook-timestamp or webhook-signature header",
  invalid_timestamp: "webhook-timestamp is not a Unix timestamp in seconds",
  timestamp_too_old: "webhook-timestamp is outside the tolerance (too old)",
  timestamp_too_new: "webhook-timestamp is outside the tolerance (in the future)",
  no_matching_signature: "No webhook-signature matches the body",
};

/**
 * A provider webhook for one connection: authenticated by its signature only,
 * then recorded and forwarded once per `webhook-id` (the connection's object decides, in one
 * transaction), and the syncs it concerns triggered in the background.
 */
export async function handleInboundWebhook(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  input: InboundWebhook,
): Promise<InboundResult> {
  const { providerConfigKey, connectionId } = input;
  const connection = await loadConnectionSecret(env, providerConfigKey, connectionId);
  if (!connection) throw new ApiError(404, "unknown_connection", `No connection ${connectionId} for ${providerConfigKey}`);
  const provider = getProvider(connection.provider);
  const rules = provider?.webhooks;
  if (!provider || !rules) throw new ApiError(404, "webhooks_not_supported", `Provider ${connection.provider} sends no webhooks`);
  const secret = connection.config.webhook_secret;
  if (!secret) throw new ApiError(401, "webhook_secret_missing", "The connection has no webhook_secret in its connection_config");

  let verdict;
  try {
    verdict = await verifyStandardWebhook({
      secret,
      toleranceSeconds: rules.toleranceSeconds,
      body: input.body,
      headers: {
        id: input.headers.get("webhook-id"),
        timestamp: input.headers.get("webhook-timestamp"),
        signature: input.headers.get("webhook-signature"),
      },
    });
  } catch {
    // Only a secret that is not base64 gets here; never echo it.
    throw new ApiError(401, "webhook_secret_invalid", "The connection's webhook_secret is not a whsec_ base64 secret");
  }
  if (!verdict.ok) throw new ApiError(401, "invalid_signature", FAILURE_MESSAGES[verdict.reason]);

  const payload = parseJson(input.body);
  const eventType =
    payload !== null && typeof payload === "object" && !Array.isArray(payload) && typeof payload.type === "string"
      ? payload.type
      : "unknown";

  const { duplicate, event_id } = await connectionObject(env, providerConfigKey, connectionId).receiveProviderWebhook({
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    provider: connection.provider,
    webhook_id: verdict.id,
    event_type: eventType,
    payload,
  });

  if (!duplicate) {
    const syncs = syncsForEvent(provider, eventType);
    if (syncs.length > 0)
      ctx.waitUntil(
        triggerSyncs(env, providerConfigKey, connectionId, syncs).catch((err: unknown) =>
          console.error("triggerSyncs failed", { providerConfigKey, connectionId, syncs, error: err instanceof Error ? err.name : "unknown" }),
        ),
      );
  }
  return { duplicate, event_id, event_type: eventType };
}

function parseJson(body: Uint8Array): Json {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body)) as Json;
  } catch {
    throw new ApiError(400, "invalid_json", "The webhook body is not JSON");
  }
}
