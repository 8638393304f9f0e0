import { SELF } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it } from "vitest";
import { openai } from "../../src/providers/openai";
import { generateWebhookSecret } from "../../src/webhooks/standard-webhooks";
import { syncsForEvent } from "../../src/webhooks/sync-trigger";
import { api, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createWebhookConnection, listDeliveries, receivedBy, scriptReceiver, setWebhookUrls } from "../harness/webhooks";

const PCK = "openai-inbound";
const SECRET = generateWebhookSecret();
const RECEIVER = "inbound-forwards";

/** A webhook as OpenAI sends it: signed by the reference library with the connection's secret. */
function signed(body: string, opts: { id?: string; timestamp?: number; secret?: string } = {}): { headers: Record<string, string>; body: string } {
  const id = opts.id ?? `wh_${crypto.randomUUID().replaceAll("-", "")}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = new Webhook(opts.secret ?? SECRET).sign(id, new Date(timestamp * 1000), body);
  return {
    body,
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature },
  };
}

function post(connectionId: string, msg: { headers: Record<string, string>; body: string | Uint8Array }, pck = PCK) {
  return SELF.fetch(`${TERAPI}/webhook/${pck}/${connectionId}`, { method: "POST", headers: msg.headers, body: msg.body });
}

const event = (type: string, id = "batch_abc") =>
  JSON.stringify({ id: `evt_${crypto.randomUUID()}`, object: "event", created_at: Math.floor(Date.now() / 1000), type, data: { id } });

beforeAll(async () => {
  await createWebhookConnection(PCK, "tenant-1", SECRET);
  await createWebhookConnection(PCK, "tenant-nosecret", null);
  await setWebhookUrls(await scriptReceiver(RECEIVER, []));
});

describe("POST /webhook/:provider_config_key/:connection_id", () => {
  it("accepts a webhook signed by the standardwebhooks package and forwards it to the user", async () => {
    const body = event("batch.completed", "batch_forward_1");
    const res = await post("tenant-1", signed(body));
    expect(res.status).toBe(200);
    const json = await res.json<{ received: boolean; duplicate: boolean; event_id: string; event_type: string }>();
    expect(json).toMatchObject({ received: true, duplicate: false, event_type: "batch.completed" });

    const forwarded = await waitFor(async () => (await receivedBy(RECEIVER)).find((r) => JSON.parse(r.body).id === json.event_id), "the forward event");
    expect(JSON.parse(forwarded.body)).toMatchObject({
      id: json.event_id,
      type: "forward",
      from: "terapi",
      connection_id: "tenant-1",
      provider_config_key: PCK,
      provider: "openai",
      payload: JSON.parse(body),
    });
    expect(forwarded.headers["webhook-id"]).toBe(json.event_id);
  });

  it("needs no secret key: the signature is the authentication", async () => {
    const msg = signed(event("fine_tuning.job.succeeded", "ftjob_1"));
    const res = await post("tenant-1", { ...msg, headers: { ...msg.headers, authorization: "Bearer wrong" } });
    expect(res.status).toBe(200);
  });

  it("answers 401 to a changed byte, a wrong secret, a stale or a future timestamp, and missing headers, processing nothing", async () => {
    const good = signed(event("batch.failed"));
    const tampered = { ...good, body: good.body.replace("batch.failed", "batch.faileD") };
    const cases = [
      tampered,
      signed(event("batch.failed"), { secret: generateWebhookSecret() }),
      // Well past the tolerance: the exact ±300/301 s edge is pinned in webhook-verify.test.ts;
      // here, a wall-clock second passing between signing and checking must not decide the case.
      signed(event("batch.failed"), { timestamp: Math.floor(Date.now() / 1000) - 330 }),
      signed(event("batch.failed"), { timestamp: Math.floor(Date.now() / 1000) + 330 }),
      { body: good.body, headers: { "content-type": "application/json" } },
      { body: good.body, headers: { ...good.headers, "webhook-signature": "v1,AAAA" } },
    ];
    // The connection's own object (both keys): exact now, where the environment-wide index may still be taking in earlier tests' events.
    const before = (await listDeliveries(`provider_config_key=${PCK}&connection_id=tenant-1&type=forward&limit=100`)).data.length;
    for (const msg of cases) {
      const res = await post("tenant-1", msg);
      expect(res.status).toBe(401);
      const body = await res.json<{ error: { code: string; message: string } }>();
      expect(body).toEqual({ error: { code: "invalid_signature", message: "Webhook signature verification failed" } });
      expect(JSON.stringify(body)).not.toContain(SECRET.slice(6));
    }
    expect((await listDeliveries(`provider_config_key=${PCK}&connection_id=tenant-1&type=forward&limit=100`)).data.length).toBe(before);
  });

  it("processes a repeated webhook-id once: 200 both times, one forward event", async () => {
    const msg = signed(event("batch.expired", "batch_dup"), { id: "wh_duplicate_1" });
    const first = await post("tenant-1", msg);
    // OpenAI re-signs a retry with a new timestamp but the same id.
    const again = await post("tenant-1", signed(msg.body, { id: "wh_duplicate_1", timestamp: Math.floor(Date.now() / 1000) - 10 }));
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    const a = await first.json<{ duplicate: boolean; event_id: string }>();
    const b = await again.json<{ duplicate: boolean; event_id: string }>();
    expect(a.duplicate).toBe(false);
    expect(b).toMatchObject({ duplicate: true, event_id: a.event_id });

    await waitFor(async () => (await receivedBy(RECEIVER)).some((r) => JSON.parse(r.body).id === a.event_id), "the forward");
    const forwards = (await receivedBy(RECEIVER)).filter((r) => JSON.parse(r.body).payload?.data?.id === "batch_dup");
    expect(forwards).toHaveLength(1);
  });

  it("writes the accepted webhook's log line in the connection's object, with the event: there as soon as the answer is, a repeat marked duplicate", async () => {
    const type = `batch.logged_${crypto.randomUUID().slice(0, 8)}`;
    const msg = signed(event(type, "batch_logged"));
    expect((await post("tenant-1", msg)).status).toBe(200);
    expect((await post("tenant-1", msg)).status).toBe(200);
    // Both keys: the connection's own log, read at once (no flush to wait for).
    const { body } = await api<{ logs: { status: string; http_status: number; detail: string }[] }>(
      "GET",
      `/logs?provider_config_key=${PCK}&connection_id=tenant-1&type=webhook&limit=50`,
    );
    const mine = body.logs.filter((l) => l.detail.startsWith(type)).map((l) => [l.status, l.http_status, l.detail]);
    expect(mine.sort()).toEqual([
      ["success", 200, type],
      ["success", 200, `${type} (duplicate)`],
    ]);
  });

  it("leaves what is not POST /webhook/{integration}/{connection} to the router (the fast path takes only that)", async () => {
    // The router's answer to a path it does not route, without a secret key.
    const unrouted = await SELF.fetch(`${TERAPI}/no-such-route/a/b`, { method: "POST" });
    for (const res of [await SELF.fetch(`${TERAPI}/webhook/${PCK}/tenant-1`), await post("tenant-1/more", signed(event("batch.completed")))]) {
      expect(res.status).toBe(unrouted.status);
      expect((await res.json<{ error: { code: string } }>()).error.code).toBe((await unrouted.clone().json<{ error: { code: string } }>()).error.code);
    }
  });

  it("processes concurrent copies of one webhook-id exactly once", async () => {
    const msg = signed(event("batch.cancelled", "batch_race"), { id: "wh_race_1" });
    const results = await Promise.all(Array.from({ length: 5 }, () => post("tenant-1", msg).then((r) => r.json<{ duplicate: boolean }>())));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it("dedupes per connection: the same webhook-id on another connection is its own event", async () => {
    await createWebhookConnection(PCK, "tenant-2", SECRET);
    const r1 = await post("tenant-1", signed(event("batch.completed"), { id: "wh_shared_id" }));
    const r2 = await post("tenant-2", signed(event("batch.completed"), { id: "wh_shared_id" }));
    expect((await r1.json<{ duplicate: boolean }>()).duplicate).toBe(false);
    expect((await r2.json<{ duplicate: boolean }>()).duplicate).toBe(false);
  });

  it("accepts unknown event types", async () => {
    const res = await post("tenant-1", signed(event("something.new.from.openai")));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ duplicate: false, event_type: "something.new.from.openai" });
  });

  it("answers every unauthenticated webhook alike: unknown connection, no webhook_secret, bad signature all get 401 invalid_signature with one message", async () => {
    const same = { error: { code: "invalid_signature", message: "Webhook signature verification failed" } };
    const good = signed(event("batch.completed"));
    const answers = [
      await post("nobody", good),
      await post("tenant-1", good, "no-such-integration"),
      await post("tenant-nosecret", signed(event("batch.completed"))),
      await post("tenant-1", { ...good, headers: { ...good.headers, "webhook-signature": "v1,AAAA" } }),
      await post("tenant-1", { body: good.body, headers: { "content-type": "application/json" } }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(same);
    }
  });

  it("caps the body at 256 KB with 413", async () => {
    const big = JSON.stringify({ type: "batch.completed", data: { pad: "x".repeat(300 * 1024) } });
    const res = await post("tenant-1", signed(big));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "payload_too_large" } });
  });

  it("is documented in /openapi.json", async () => {
    const doc = await (await SELF.fetch(`${TERAPI}/openapi.json`)).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(doc.paths["/webhook/{provider_config_key}/{connection_id}"]?.post).toBeDefined();
    expect(doc.paths["/environment"]?.get).toBeDefined();
    expect(doc.paths["/environment"]?.patch).toBeDefined();
    expect(doc.paths["/environment/webhook-secret/rotate"]?.post).toBeDefined();
    expect(doc.paths["/webhook-deliveries"]?.get).toBeDefined();
    expect(doc.paths["/webhook-deliveries/{id}"]?.get).toBeDefined();
    expect(doc.paths["/webhook-deliveries/{id}/redeliver"]?.post).toBeDefined();
  });

  it("maps event types to the syncs they concern", () => {
    expect(syncsForEvent(openai, "batch.completed")).toEqual(["batches"]);
    expect(syncsForEvent(openai, "fine_tuning.job.succeeded")).toEqual(["fine-tuning-jobs"]);
    expect(syncsForEvent(openai, "response.completed")).toEqual([]);
  });
});
