import { logUnhandled } from "../error-log";
import { connectionObject } from "../bindings/stubs";
import { ApiError } from "../errors";
import { getProvider } from "../providers/catalog";
import { connectionCache } from "../connections/cache";
import type { Json } from "./events";
import { generateWebhookSecret, verifyStandardWebhook } from "./standard-webhooks";
import { syncsForEvent, triggerSyncs } from "./sync-trigger";

type InboundWebhook = {
  providerConfigKey: string;
  connectionId: string;
  headers: Headers;
  /** The raw body bytes, exactly as received: the signature covers them. */
  body: Uint8Array;
  /** When it came in (epoch ms): the connection's object logs the accepted webhook from then. */
  receivedAt: number;
};

type InboundResult = { duplicate: boolean; event_id: string; event_type: string };

/**
 * Why a webhook was not authenticated. Only the operation log sees the reason:
 * the caller gets one answer for all of them (see the route), so an outsider
 * learns nothing about which connections exist or how they are configured.
 */
export class WebhookRefused extends Error {
  constructor(
    readonly reason: string,
    /** The connection exists, so its log can take the line. */
    readonly known: boolean,
  ) {
    super(reason);
    this.name = "WebhookRefused";
  }
}

/** What a refused webhook is checked against when there is no real secret (see below); made on first use (no randomness at global scope). */
let decoySecret: string | undefined;
const decoy = () => (decoySecret ??= generateWebhookSecret());
const DECOY_TOLERANCE_S = 300;

/**
 * A provider webhook for one connection: authenticated by its signature only,
 * then recorded and forwarded once per `webhook-id` (the connection's object decides, in one
 * transaction), and the syncs it concerns triggered in the background.
 */
export async function handleInboundWebhook(env: Env, ctx: Pick<ExecutionContext, "waitUntil">, input: InboundWebhook): Promise<InboundResult> {
  const { providerConfigKey, connectionId } = input;
  // The isolate's connection cache (as the proxy's): no KV read and decrypt per webhook.
  const connection = await connectionCache.get(env, providerConfigKey, connectionId);
  const provider = connection ? getProvider(connection.provider) : undefined;
  const rules = provider?.webhooks;
  const secret = connection?.config.webhook_secret;
  const refusal = !connection ? "unknown_connection" : !provider || !rules ? "webhooks_not_supported" : !secret ? "webhook_secret_missing" : null;

  // A signature is checked whatever the refusal (against a throwaway secret if need be),
  // so not even the time the answer takes tells an unknown connection from a bad signature.
  let verdict;
  try {
    verdict = await verifyStandardWebhook({
      secret: secret && rules ? secret : decoy(),
      toleranceSeconds: rules?.toleranceSeconds ?? DECOY_TOLERANCE_S,
      body: input.body,
      headers: {
        id: input.headers.get("webhook-id"),
        timestamp: input.headers.get("webhook-timestamp"),
        signature: input.headers.get("webhook-signature"),
      },
    });
  } catch {
    // Only a secret that is not base64 gets here (stored before secrets were checked); never echo it.
    throw new WebhookRefused("webhook_secret_invalid", true);
  }
  if (refusal !== null || !connection || !provider) throw new WebhookRefused(refusal ?? "unknown_connection", connection !== null);
  if (!verdict.ok) throw new WebhookRefused(verdict.reason, true);

  const payload = parseJson(input.body);
  const eventType = payload !== null && typeof payload === "object" && !Array.isArray(payload) && typeof payload.type === "string" ? payload.type : "unknown";

  const { duplicate, event_id } = await connectionObject(env, providerConfigKey, connectionId).receiveProviderWebhook({
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    provider: connection.provider,
    webhook_id: verdict.id,
    event_type: eventType,
    payload,
    received_at: input.receivedAt,
  });

  if (!duplicate) {
    const syncs = syncsForEvent(provider, eventType);
    if (syncs.length > 0)
      ctx.waitUntil(
        triggerSyncs(env, providerConfigKey, connectionId, syncs).catch((err: unknown) =>
          logUnhandled("triggerSyncs failed", err, { fields: { providerConfigKey, connectionId, syncs } }),
        ),
      );
  }
  return { duplicate, event_id, event_type: eventType };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function parseJson(body: Uint8Array): Json {
  try {
    return JSON.parse(utf8.decode(body)) as Json;
  } catch {
    throw new ApiError(400, "invalid_json", "The webhook body is not JSON");
  }
}
