import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { parseKeyRing, parseSealed } from "../../src/crypto";
import { connectionObject } from "../../src/bindings/stubs";
import type { ConnectionObject } from "../../src/durable-objects/connection";
import { emitEvent } from "../../src/events/emit";
import { maxBackoffDelayMs } from "../../src/webhooks/delivery";
import type { EnvironmentSettings } from "../../src/webhooks/schemas";
import type { SettingsStore } from "../../src/webhooks/settings-store";
import { api } from "../harness/api";
import { waitFor } from "../harness/wait";
import {
  createWebhookConnection,
  deliveryObject,
  getDelivery,
  listDeliveries,
  outbox,
  outboxAlarm,
  receivedBy,
  runRetryNow,
  scriptReceiver,
  setWebhookUrls,
  waitForAttempts,
} from "../harness/webhooks";

let seq = 0;
/** A fresh receiver id per test: the outbox and the receiver are shared by the whole file. */
const rid = (name: string) => `${name}-${++seq}-${Date.now()}`;

async function emit(connectionId: string, payload: Record<string, string | number | boolean> = { n: 1 }) {
  return emitEvent(env, { type: "sync", connection_id: connectionId, provider_config_key: "openai", provider: "openai", payload });
}

describe("environment", () => {
  it("generates a whsec_ secret on first read and keeps it", async () => {
    const a = await api<EnvironmentSettings>("GET", "/environment");
    expect(a.status).toBe(200);
    expect(a.body.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const b = await api<EnvironmentSettings>("GET", "/environment");
    expect(b.body.webhook_secret).toBe(a.body.webhook_secret);
  });

  it("keeps the signing secret encrypted at rest with the tenant secrets' key ring, and seals a plaintext one left by an older version", async () => {
    const { webhook_secret } = (await api<EnvironmentSettings>("GET", "/environment")).body;
    const stored = () =>
      runInDurableObject(outbox(), (_o, state) =>
        Object.fromEntries(
          state.storage.sql
            .exec<{ key: string; value: string }>("SELECT key, value FROM settings")
            .toArray()
            .map((r) => [r.key, r.value]),
        ),
      );
    const rows = await stored();
    expect(JSON.stringify(rows)).not.toContain(webhook_secret.slice("whsec_".length));
    expect(parseSealed(rows.webhook_secret).kid).toBe("k1");

    // An older version's row: the secret in plaintext. A restarted object seals it and signs with the same secret.
    await runInDurableObject(outbox(), (_o, state) => {
      state.storage.sql.exec("UPDATE settings SET value = ? WHERE key = 'webhook_secret'", webhook_secret);
    });
    await evictDurableObject(outbox());
    expect((await api<EnvironmentSettings>("GET", "/environment")).body.webhook_secret).toBe(webhook_secret);
    const migrated = await stored();
    expect(migrated.webhook_secret).not.toContain(webhook_secret.slice("whsec_".length));
    expect(parseSealed(migrated.webhook_secret).kid).toBe("k1");

    // A master-key rotation seals it again with the new key (and back), the secret unchanged.
    const k2 = `k2:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const settingsOf = (o: unknown) => (o as { settings: SettingsStore }).settings;
    const forward = await parseKeyRing(`${k2},${env.TERAPI_ENCRYPTION_KEY}`);
    expect(await runInDurableObject(outbox(), (o) => settingsOf(o).reseal(forward))).toEqual({ resealed: 1, total: 1 });
    expect(parseSealed((await stored()).webhook_secret).kid).toBe("k2");
    const back = await parseKeyRing(`${env.TERAPI_ENCRYPTION_KEY},${k2}`);
    expect(await runInDurableObject(outbox(), (o) => settingsOf(o).reseal(back))).toEqual({ resealed: 1, total: 1 });
    await evictDurableObject(outbox());
    expect((await api<EnvironmentSettings>("GET", "/environment")).body.webhook_secret).toBe(webhook_secret);
  });

  it("sets and clears the URLs, accepting only http and https", async () => {
    const set = await api<EnvironmentSettings>("PATCH", "/environment", {
      webhook_url: "https://example.com/hooks",
      secondary_webhook_url: "http://example.org/h",
    });
    expect(set.body).toMatchObject({ webhook_url: "https://example.com/hooks", secondary_webhook_url: "http://example.org/h" });
    const partial = await api<EnvironmentSettings>("PATCH", "/environment", { secondary_webhook_url: null });
    expect(partial.body).toMatchObject({ webhook_url: "https://example.com/hooks", secondary_webhook_url: null });
    for (const bad of ["ftp://example.com/x", "javascript:alert(1)", "/relative", "not a url"]) {
      const res = await api<{ error: { code: string } }>("PATCH", "/environment", { webhook_url: bad });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
    expect((await api("PATCH", "/environment", { unknown_field: 1 })).status).toBe(400);
  });

  it("needs the secret key", async () => {
    const { SELF } = await import("cloudflare:test");
    expect((await SELF.fetch("http://terapi.test/environment")).status).toBe(401);
    expect((await SELF.fetch("http://terapi.test/webhook-deliveries")).status).toBe(401);
  });
});

describe("deliveries", () => {
  it("signs every delivery so the standardwebhooks package verifies it, with the Nango-style body", async () => {
    const id = rid("signed");
    const env1 = await setWebhookUrls(await scriptReceiver(id, []));
    const { event_id, delivery_ids } = await emit("conn-signed", { model: "Batch", added: 2 });
    expect(delivery_ids).toHaveLength(1);
    const [req] = await waitFor(async () => {
      const r = await receivedBy(id);
      return r.length ? r : undefined;
    }, "a delivery");
    const verified = new Webhook(env1.webhook_secret).verify(req.body, req.headers);
    expect(verified).toMatchObject({
      id: event_id,
      type: "sync",
      from: "terapi",
      connection_id: "conn-signed",
      provider_config_key: "openai",
      provider: "openai",
      payload: { model: "Batch", added: 2 },
    });
    expect(req.headers["webhook-id"]).toBe(event_id);
    expect(req.headers["content-type"]).toBe("application/json");
    const d = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "delivered" ? x : undefined;
    }, "delivered");
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ attempt: 1, status_code: 200, outcome: "delivered", error: null });
  });

  it("retries a receiver that fails twice with 503, with backoff on the alarm, and delivers exactly once", async () => {
    const id = rid("flaky");
    await setWebhookUrls(
      await scriptReceiver(id, [
        { status: 503, body: "down" },
        { status: 503, body: "still down" },
      ]),
    );
    const { delivery_ids } = await emit("conn-flaky");
    const deliveryId = delivery_ids[0];

    const first = await waitForAttempts(deliveryId, 1);
    expect(first.status).toBe("pending");
    const alarm = await outboxAlarm(deliveryId);
    const next = Date.parse(first.next_attempt_at ?? "");
    expect(alarm).toBe(next);
    const lastAttempt = Date.parse(first.attempts[0].started_at);
    expect(next - lastAttempt).toBeGreaterThanOrEqual(1000);
    expect(next - lastAttempt).toBeLessThanOrEqual(maxBackoffDelayMs(1) + first.attempts[0].duration_ms + 100);

    await runRetryNow(deliveryId);
    const second = await waitForAttempts(deliveryId, 2);
    expect(second.status).toBe("pending");
    const next2 = Date.parse(second.next_attempt_at ?? "");
    expect(next2 - Date.parse(second.attempts[1].started_at)).toBeLessThanOrEqual(maxBackoffDelayMs(2) + 200);

    await runRetryNow(deliveryId);
    const done = await waitFor(async () => {
      const d = await getDelivery(deliveryId);
      return d.status === "delivered" ? d : undefined;
    }, "delivered");
    expect(done.attempt_count).toBe(3);
    expect(done.attempts.map((a) => [a.status_code, a.outcome])).toEqual([
      [503, "retry"],
      [503, "retry"],
      [200, "delivered"],
    ]);
    expect(done.attempts[0].response_snippet).toBe("down");
    expect(done.next_attempt_at).toBeNull();
    const received = await receivedBy(id);
    expect(received.map((r) => r.status)).toEqual([503, 503, 200]);
    // Standard Webhooks: one message id across retries.
    expect(new Set(received.map((r) => r.headers["webhook-id"])).size).toBe(1);
  });

  it("an attempt still in flight when its lease runs out is not claimed again by the alarm (its lease is renewed instead)", async () => {
    const id = rid("held");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 200, delay_ms: 800 }]));
    const { delivery_ids } = await emit("conn-held");
    const deliveryId = delivery_ids[0];
    // As if the attempt had waited out its lease (an isolate's slots all taken): due now, and the alarm runs.
    await runRetryNow(deliveryId);
    const lease = await runInDurableObject(deliveryObject(deliveryId), (_instance, state) =>
      state.storage.sql
        .exec<{ next_attempt_at: number | null; status: string }>("SELECT next_attempt_at, status FROM deliveries WHERE id = ?", deliveryId)
        .one(),
    );
    if (lease.status === "pending") expect(lease.next_attempt_at ?? 0).toBeGreaterThan(Date.now());
    const done = await waitFor(async () => {
      const d = await getDelivery(deliveryId);
      return d.status === "delivered" ? d : undefined;
    }, "delivered");
    expect(done.attempt_count).toBe(1);
    expect((await receivedBy(id)).map((r) => r.status)).toEqual([200]);
  });

  it("does not retry a 400", async () => {
    const id = rid("bad-request");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 400, body: "nope" }]));
    const { delivery_ids } = await emit("conn-400");
    const d = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "failed" ? x : undefined;
    }, "failed");
    expect(d).toMatchObject({ attempt_count: 1, last_status_code: 400, next_attempt_at: null });
    expect(d.attempts[0]).toMatchObject({ status_code: 400, outcome: "failed", response_snippet: "nope" });
    expect(await receivedBy(id)).toHaveLength(1);
  });

  it("does not follow a redirect, and does not retry it", async () => {
    const id = rid("redirect");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 302, headers: { location: "http://127.0.0.1:1/elsewhere" } }]));
    const { delivery_ids } = await emit("conn-302");
    const d = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "failed" ? x : undefined;
    }, "failed");
    expect(d.attempts[0]).toMatchObject({ status_code: 302, outcome: "failed", error: "redirect not followed" });
  });

  it("honours Retry-After: 120 on a 429", async () => {
    const id = rid("limited");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 429, headers: { "retry-after": "120" } }]));
    const { delivery_ids } = await emit("conn-429");
    const d = await waitForAttempts(delivery_ids[0], 1);
    expect(d.status).toBe("pending");
    const next = Date.parse(d.next_attempt_at ?? "");
    expect(next - Date.parse(d.attempts[0].started_at)).toBeGreaterThanOrEqual(120_000);
    expect((await outboxAlarm(delivery_ids[0])) ?? 0).toBeLessThanOrEqual(next);
    // Done with it: deliver it now so it does not linger for the next tests.
    await runRetryNow(delivery_ids[0]);
    await waitFor(async () => (await getDelivery(delivery_ids[0])).status === "delivered", "delivered");
  });

  it("marks a delivery failed when its day-long retry window is over", async () => {
    const id = rid("window");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 503 }, { status: 503 }]));
    const { delivery_ids } = await emit("conn-window");
    await waitForAttempts(delivery_ids[0], 1);
    await runInDurableObject(deliveryObject(delivery_ids[0]), (_instance, state) => {
      state.storage.sql.exec("UPDATE deliveries SET deadline_at = ? WHERE id = ?", Date.now() + 50, delivery_ids[0]);
    });
    await runRetryNow(delivery_ids[0]);
    const d = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "failed" ? x : undefined;
    }, "failed");
    expect(d.attempt_count).toBe(2);
    expect(d.last_error).toMatch(/retry window ended/);
  });

  it("keeps a pending delivery across a restart of the connection's object and delivers it after", async () => {
    const id = rid("restart");
    // A long Retry-After keeps the real alarm out of the way: only the restarted object may deliver it.
    await setWebhookUrls(await scriptReceiver(id, [{ status: 503, headers: { "retry-after": "600" } }]));
    const { delivery_ids } = await emit("conn-restart");
    await waitForAttempts(delivery_ids[0], 1);
    await evictDurableObject(deliveryObject(delivery_ids[0]));
    const after = await getDelivery(delivery_ids[0]);
    expect(after).toMatchObject({ status: "pending", attempt_count: 1 });
    expect(await outboxAlarm(delivery_ids[0])).toBe(Date.parse(after.next_attempt_at ?? ""));
    await runRetryNow(delivery_ids[0]);
    const done = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "delivered" ? x : undefined;
    }, "delivered");
    expect(done.attempt_count).toBe(2);
    expect((await receivedBy(id)).map((r) => r.status)).toEqual([503, 200]);
  });

  it("keeps one safety-net alarm while a connection's events follow each other, and takes it off once its deliveries are quiet", async () => {
    const id = rid("steady");
    await setWebhookUrls(await scriptReceiver(id, []));
    const conn = `conn-steady-${seq}`;
    const delivered = (deliveryId: string) =>
      waitFor(async () => {
        const d = await getDelivery(deliveryId);
        return d.status === "delivered" ? d : undefined;
      }, "delivered");
    // The quiet wait lengthened past the test (however slow the machine, the second event comes within it), ended below by the hook.
    const object = connectionObject(env, "openai", conn);
    await runInDurableObject(object, (inst: ConnectionObject) => inst.tuneOutbox({ quietMs: 3_600_000 }));
    const before = Date.now();
    const first = await emit(conn, { n: 1 });
    await delivered(first.delivery_ids[0]);
    // Stored before sent: the alarm covers the attempt's lease (the safety net), and stays after the delivery.
    const net = await outboxAlarm(first.delivery_ids[0]);
    expect(net).not.toBeNull();
    expect(net ?? 0).toBeGreaterThanOrEqual(before + 30_000);
    const second = await emit(conn, { n: 2 });
    await delivered(second.delivery_ids[0]);
    // The second event found the alarm early enough: not moved back and forth for each event.
    expect(await outboxAlarm(second.delivery_ids[0])).toBe(net);
    // Quiet: the alarm goes where the object's work says (this connection has none left).
    await runInDurableObject(object, (inst: ConnectionObject) => inst.tuneOutbox({}, true));
    expect(await outboxAlarm(first.delivery_ids[0])).toBeNull();
    expect((await receivedBy(id)).map((r) => r.status)).toEqual([200, 200]);
  });

  it("keeps a connection's pending delivery when the connection is deleted, and delivers it after", async () => {
    // The creation's auth event goes to its own receiver first; this test follows a sync event after it.
    const creation = rid("deleted-auth");
    await setWebhookUrls(await scriptReceiver(creation, []));
    const conn = `gone-${seq}-${Date.now()}`;
    await createWebhookConnection("openai", conn, null);
    await waitFor(async () => (await receivedBy(creation)).length > 0, "the auth event");
    const id = rid("deleted");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 503, headers: { "retry-after": "600" } }]));
    const { delivery_ids } = await emit(conn);
    await waitForAttempts(delivery_ids[0], 1);
    expect((await api("DELETE", `/connections/${conn}?provider_config_key=openai`)).status).toBe(204);
    const kept = await getDelivery(delivery_ids[0]);
    expect(kept).toMatchObject({ status: "pending", attempt_count: 1, connection_id: conn });
    await runRetryNow(delivery_ids[0]);
    const done = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "delivered" ? x : undefined;
    }, "delivered");
    expect(done.attempts.map((a) => a.status_code)).toEqual([503, 200]);
  });

  it("retries a network error (nothing listening) and records the error", async () => {
    await setWebhookUrls("http://127.0.0.1:1/closed");
    const { delivery_ids } = await emit("conn-neterr");
    const d = await waitForAttempts(delivery_ids[0], 1);
    expect(d.status).toBe("pending");
    expect(d.attempts[0]).toMatchObject({ status_code: null, outcome: "retry" });
    expect(d.attempts[0].error).toMatch(/network error/);
    // Park it: point it at a receiver that accepts and redeliver.
    await setWebhookUrls(await scriptReceiver(rid("neterr-fixed"), []));
    await api("POST", `/webhook-deliveries/${delivery_ids[0]}/redeliver`);
    await waitFor(async () => (await getDelivery(delivery_ids[0])).status === "delivered", "delivered");
  });

  it("sends to the secondary URL as its own delivery", async () => {
    const a = rid("primary");
    const b = rid("secondary");
    await setWebhookUrls(await scriptReceiver(a, [{ status: 400 }]), await scriptReceiver(b, []));
    const { delivery_ids, event_id } = await emit("conn-two");
    expect(delivery_ids).toHaveLength(2);
    const [p, s] = await Promise.all(
      delivery_ids.map((d) =>
        waitFor(async () => {
          const x = await getDelivery(d);
          return x.status !== "pending" ? x : undefined;
        }, "settled"),
      ),
    );
    expect([p.endpoint, p.status]).toEqual(["primary", "failed"]);
    expect([s.endpoint, s.status]).toEqual(["secondary", "delivered"]);
    expect(JSON.parse((await receivedBy(b))[0].body).id).toBe(event_id);
    await setWebhookUrls(null, null);
  });

  it("creates no delivery when no URL is set", async () => {
    await setWebhookUrls(null, null);
    const { delivery_ids } = await emit("conn-none");
    expect(delivery_ids).toEqual([]);
  });

  it("redelivers a failed delivery with the same webhook-id, keeping the attempts", async () => {
    const id = rid("redeliver");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 404 }]));
    const { delivery_ids } = await emit("conn-redeliver");
    await waitFor(async () => (await getDelivery(delivery_ids[0])).status === "failed", "failed");
    const res = await api<{ status: string; attempts: unknown[] }>("POST", `/webhook-deliveries/${delivery_ids[0]}/redeliver`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("pending");
    const done = await waitFor(async () => {
      const x = await getDelivery(delivery_ids[0]);
      return x.status === "delivered" ? x : undefined;
    }, "delivered");
    expect(done.attempts.map((a) => a.status_code)).toEqual([404, 200]);
    const received = await receivedBy(id);
    expect(received).toHaveLength(2);
    expect(received[0].headers["webhook-id"]).toBe(received[1].headers["webhook-id"]);
    expect((await api("POST", "/webhook-deliveries/whd_nope/redeliver")).status).toBe(404);
    expect((await api("GET", "/webhook-deliveries/whd_nope")).status).toBe(404);
  });

  it("rotates the secret: new deliveries verify with the new secret, and with the old one for a grace period", async () => {
    const id = rid("rotate");
    const before = await setWebhookUrls(await scriptReceiver(id, []));
    const rotated = await api<EnvironmentSettings>("POST", "/environment/webhook-secret/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.webhook_secret).toMatch(/^whsec_/);
    expect(rotated.body.webhook_secret).not.toBe(before.webhook_secret);
    expect((await api<EnvironmentSettings>("GET", "/environment")).body.webhook_secret).toBe(rotated.body.webhook_secret);

    await emit("conn-rotate");
    const [req] = await waitFor(async () => {
      const r = await receivedBy(id);
      return r.length ? r : undefined;
    }, "a delivery");
    expect(() => new Webhook(rotated.body.webhook_secret).verify(req.body, req.headers)).not.toThrow();
    expect(() => new Webhook(before.webhook_secret).verify(req.body, req.headers)).not.toThrow();
    expect(() => new Webhook("whsec_" + btoa("x".repeat(32))).verify(req.body, req.headers)).toThrow();
    expect(req.headers["webhook-signature"].split(" ")).toHaveLength(2);
  });

  it("lists deliveries with filters and pagination", async () => {
    const id = rid("list");
    await setWebhookUrls(await scriptReceiver(id, [{ status: 400 }]));
    const conn = `conn-list-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(...(await emit(conn, { i })).delivery_ids);
    await emitEvent(env, { type: "auth", connection_id: conn, provider_config_key: "openai", provider: "openai", payload: { operation: "creation" } });
    // Settled in the connection's object (the source), then in the environment-wide index, which carries a
    // new event's delivery once its first attempt ended (or after a second: see connection-outbox.ts).
    await waitFor(async () => (await listDeliveries(`provider_config_key=openai&connection_id=${conn}&status=pending`)).data.length === 0, "all settled");
    await waitFor(async () => {
      const indexed = (await listDeliveries(`connection_id=${conn}&limit=100`)).data;
      return indexed.length === 6 && indexed.every((d) => d.status !== "pending");
    }, "all settled in the index");

    const page1 = await listDeliveries(`connection_id=${conn}&type=sync&limit=2`);
    expect(page1.data.map((d) => d.id)).toEqual([ids[4], ids[3]]);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = await listDeliveries(`connection_id=${conn}&type=sync&limit=2&cursor=${page1.next_cursor}`);
    expect(page2.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    const page3 = await listDeliveries(`connection_id=${conn}&type=sync&limit=2&cursor=${page2.next_cursor}`);
    expect(page3.data.map((d) => d.id)).toEqual([ids[0]]);
    expect(page3.next_cursor).toBeNull();

    // The same pages from the connection's own object (both keys given: current, not the index).
    const own1 = await listDeliveries(`provider_config_key=openai&connection_id=${conn}&type=sync&limit=2`);
    expect(own1.data.map((d) => d.id)).toEqual([ids[4], ids[3]]);
    const own2 = await listDeliveries(`provider_config_key=openai&connection_id=${conn}&type=sync&limit=3&cursor=${own1.next_cursor}`);
    expect(own2.data.map((d) => d.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(own2.next_cursor).toBeNull();
    // Every delivery is listed with its latest state across connections too (no filter).
    expect((await listDeliveries("limit=100")).data.filter((d) => d.connection_id === conn)).toHaveLength(6);

    expect((await listDeliveries(`connection_id=${conn}&type=auth`)).data).toHaveLength(1);
    const failed = await listDeliveries(`connection_id=${conn}&status=failed&limit=100`);
    expect(failed.data).toHaveLength(1); // the first one got the scripted 400
    expect((await listDeliveries(`connection_id=${conn}&status=delivered&limit=100`)).data).toHaveLength(5);
    expect((await api("GET", "/webhook-deliveries?status=bogus")).status).toBe(400);
    expect((await api("GET", "/webhook-deliveries?limit=0")).status).toBe(400);
  });
});
