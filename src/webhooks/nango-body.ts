/**
 * Outgoing webhook bodies in the shape of the webhook types Nango's SDK
 * exports, so code written for Nango's webhooks reads terapi's unchanged.
 * terapi's own envelope (`id`, `connection_id`, `payload`, …) stays next to
 * them: fields are added, none renamed. The types are imported from Nango's
 * packages (types only, erased from the bundle), so `tsc` checks every body
 * against them.
 */
import type { NangoAuthWebhookBody, NangoSyncWebhookBody } from "@nangohq/node";
import type { NangoAsyncActionWebhookBody, NangoForwardWebhookBody } from "@nangohq/types";
import { bytesToHex } from "../crypto/hex";
import { hmacKey } from "./hmac-keys";
import type { Json, OutgoingEvent } from "./events";

/** Nango's body for each kind terapi sends; `async_proxy` and `usage` are terapi's own (Nango has no such events). */
type NangoShapedBody =
  | NangoAuthWebhookBody
  | NangoSyncWebhookBody
  | NangoForwardWebhookBody
  | NangoAsyncActionWebhookBody
  | { from: string; type: "async_proxy" | "usage"; connectionId: string; providerConfigKey: string };

const encoder = new TextEncoder();

/** One deployment is one environment (wrangler environments), so Nango's `environment` has one value. */
const ENVIRONMENT = "default";

type Fields = { [key: string]: Json | undefined };
const fields = (payload: Json): Fields => (typeof payload === "object" && payload !== null && !Array.isArray(payload) ? payload : {});
const text = (v: Json | undefined): string | null => (typeof v === "string" ? v : null);
const num = (v: Json | undefined): number => (typeof v === "number" ? v : 0);

/** terapi's auth operations in Nango's words; a rejected key is the failed creation or override it was. */
const AUTH_OPERATIONS = { creation: "creation", override: "override", deletion: "deletion" } as const;
const nangoOperation = (op: string | null) =>
  op !== null && op in AUTH_OPERATIONS ? AUTH_OPERATIONS[op as keyof typeof AUTH_OPERATIONS] : ("unknown" as const);

function nangoBody(event: OutgoingEvent): NangoShapedBody {
  const base = { from: event.from, connectionId: event.connection_id, providerConfigKey: event.provider_config_key };
  const p = fields(event.payload);
  switch (event.type) {
    case "auth": {
      const op = text(p.operation);
      const endUser = fields(p.end_user ?? null);
      const common = {
        ...base,
        type: "auth" as const,
        authMode: "API_KEY" as const,
        provider: event.provider,
        environment: ENVIRONMENT,
        operation: nangoOperation(op === "key_rejected" ? text(p.attempted) : op),
        ...(text(endUser.id) === null ? {} : { endUser: { endUserId: text(endUser.id) ?? "", endUserEmail: text(endUser.email), tags: {} } }),
      };
      if (p.success === true) return { ...common, success: true };
      const error = fields(p.error ?? null);
      return { ...common, success: false, error: { type: text(error.code) ?? op ?? "auth_failed", description: text(error.message) ?? "" } };
    }
    case "sync": {
      const common = {
        ...base,
        type: "sync" as const,
        syncName: text(p.sync_name) ?? "",
        syncVariant: "base",
        model: text(p.model) ?? "",
        syncType: "INCREMENTAL" as const,
      };
      const startedAt = text(p.modified_after) ?? event.created_at;
      if (p.success === true)
        return {
          ...common,
          success: true,
          modifiedAfter: startedAt,
          queryTimeStamp: startedAt,
          responseResults: { added: num(p.added), updated: num(p.updated), deleted: num(p.deleted) },
        };
      return {
        ...common,
        success: false,
        error: { type: "sync_failed", description: text(p.error) ?? "" },
        startedAt,
        failedAt: event.created_at,
      };
    }
    case "forward":
      return { ...base, type: "forward", payload: event.payload };
    case "async_action": {
      const id = text(p.id) ?? "";
      // Nango's AsyncActionResponse: where the SDK's getAsyncActionResult({statusUrl}) reads the result.
      return { ...base, type: "async_action", payload: { ...p, id, statusUrl: `/action/${id}` } };
    }
    case "async_proxy":
    case "usage":
      return { ...base, type: event.type };
  }
}

/** The JSON that is sent: terapi's envelope with Nango's fields added. */
export function outgoingBodyText(event: OutgoingEvent): string {
  return JSON.stringify({ ...event, ...nangoBody(event) });
}

/**
 * Nango's `X-Nango-Hmac-Sha256`: hex HMAC-SHA256 of the body, keyed with the
 * signing secret as written (`whsec_…`), which is what its SDK's
 * `verifyIncomingWebhookRequest` computes with `webhookSigningKey`.
 */
export async function nangoHmacSha256(secret: string, body: string): Promise<string> {
  const key = await hmacKey(`nango:${secret}`, () => encoder.encode(secret));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return bytesToHex(mac);
}
