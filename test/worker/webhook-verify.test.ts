import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, signStandardWebhook, verifyStandardWebhook } from "../../src/webhooks/standard-webhooks";

// OpenAI's published test vector (platform.openai.com/docs/guides/webhooks).
const VECTOR = {
  secret: "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=",
  id: "wh_685c059ae39c8190af8c71ed1022a24d",
  timestamp: 1750861210,
  body: '{"id": "evt_685c059ae3a481909bdc86819b066fb6", "object": "event", "created_at": 1750861210, "type": "response.completed", "data": {"id": "resp_123"}}',
  signature: "v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY=",
};
const enc = new TextEncoder();
const at = (seconds: number) => seconds * 1000;

function verify(over: Partial<{ secret: string; id: string | null; timestamp: string | null; signature: string | null; body: Uint8Array; now: number }> = {}) {
  return verifyStandardWebhook({
    secret: over.secret ?? VECTOR.secret,
    toleranceSeconds: 300,
    now: over.now ?? at(VECTOR.timestamp),
    body: over.body ?? enc.encode(VECTOR.body),
    headers: {
      id: over.id === undefined ? VECTOR.id : over.id,
      timestamp: over.timestamp === undefined ? String(VECTOR.timestamp) : over.timestamp,
      signature: over.signature === undefined ? VECTOR.signature : over.signature,
    },
  });
}

describe("Standard Webhooks verification", () => {
  it("verifies OpenAI's published test vector", async () => {
    expect(await verify()).toEqual({ ok: true, id: VECTOR.id, timestamp: VECTOR.timestamp });
    expect(await signStandardWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it("rejects one changed byte of the body", async () => {
    const body = enc.encode(VECTOR.body);
    body[body.length - 3] ^= 1;
    expect(await verify({ body })).toEqual({ ok: false, reason: "no_matching_signature" });
  });

  it("rejects a wrong secret, a changed id and a changed timestamp", async () => {
    expect(await verify({ secret: generateWebhookSecret() })).toMatchObject({ ok: false, reason: "no_matching_signature" });
    expect(await verify({ id: "wh_other" })).toMatchObject({ ok: false, reason: "no_matching_signature" });
    expect(await verify({ timestamp: String(VECTOR.timestamp + 1) })).toMatchObject({ ok: false, reason: "no_matching_signature" });
  });

  it("enforces the 5-minute tolerance both ways", async () => {
    expect(await verify({ now: at(VECTOR.timestamp + 300) })).toMatchObject({ ok: true });
    expect(await verify({ now: at(VECTOR.timestamp - 300) })).toMatchObject({ ok: true });
    expect(await verify({ now: at(VECTOR.timestamp + 301) })).toEqual({ ok: false, reason: "timestamp_too_old" });
    expect(await verify({ now: at(VECTOR.timestamp - 301) })).toEqual({ ok: false, reason: "timestamp_too_new" });
  });

  it("accepts any one matching v1 signature among several and skips other versions", async () => {
    const other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    expect(await verify({ signature: `${other} v2,whatever ${VECTOR.signature}` })).toMatchObject({ ok: true });
    expect(await verify({ signature: `${other} v1a,${VECTOR.signature.slice(3)}` })).toMatchObject({ ok: false });
    expect(await verify({ signature: "v1,not base64!" })).toMatchObject({ ok: false, reason: "no_matching_signature" });
  });

  it("rejects missing headers and non-numeric timestamps", async () => {
    expect(await verify({ signature: null })).toEqual({ ok: false, reason: "missing_headers" });
    expect(await verify({ id: null })).toEqual({ ok: false, reason: "missing_headers" });
    expect(await verify({ timestamp: "yesterday" })).toEqual({ ok: false, reason: "invalid_timestamp" });
  });

  it("signs what the standardwebhooks package verifies, and verifies what it signs", async () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const now = Math.floor(Date.now() / 1000);
    const body = '{"type":"batch.completed","data":{"id":"batch_1"}}';
    const signature = await signStandardWebhook(secret, "msg_1", now, body);
    const lib = new Webhook(secret);
    expect(lib.verify(body, { "webhook-id": "msg_1", "webhook-timestamp": String(now), "webhook-signature": signature })).toEqual(JSON.parse(body));
    const theirs = lib.sign("msg_2", new Date(now * 1000), body);
    expect(
      await verifyStandardWebhook({
        secret,
        toleranceSeconds: 300,
        body: enc.encode(body),
        headers: { id: "msg_2", timestamp: String(now), signature: theirs },
      }),
    ).toMatchObject({ ok: true });
  });
});
