import { createHmac } from "node:crypto";
import type { Tenant, WebhookEvent } from "./state.ts";
import { newId, nowSec } from "./util.ts";

/** Standard Webhooks signature: v1,<base64 HMAC-SHA256("id.timestamp.body")> keyed by the decoded secret. */
export function sign(secret: string, msgId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  return "v1," + createHmac("sha256", key).update(`${msgId}.${timestamp}.${body}`).digest("base64");
}

/** Records (and, with a url, sends) an OpenAI webhook event for a state change. */
export function emitEvent(t: Tenant, type: string, objectId: string): WebhookEvent {
  const ts = nowSec();
  const body = JSON.stringify({ id: newId("evt_", 32), object: "event", created_at: ts, type, data: { id: objectId } });
  const msgId = newId("wh_", 32);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
    "webhook-id": msgId,
    "webhook-timestamp": String(ts),
    "webhook-signature": sign(t.webhook.secret, msgId, ts, body),
  };
  const ev: WebhookEvent = { id: msgId, headers, body };
  t.events.push(ev);
  const url = t.webhook.url;
  if (url) {
    fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) }).then(
      (r) => {
        ev.delivered = { status: r.status };
        void r.body?.cancel();
      },
      (e: unknown) => {
        ev.delivered = { error: String(e) };
      },
    );
  }
  return ev;
}
