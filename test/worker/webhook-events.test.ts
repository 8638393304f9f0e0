import { describe, expect, it } from "vitest";
import { api } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createWebhookConnection, listDeliveries, receivedBy, scriptReceiver, setWebhookUrls } from "../harness/webhooks";

/** Features call emitEvent through their hooks; these check the wiring end to end. */
describe("outgoing events from other features", () => {
  it("a created and a deleted connection each send an auth event, without credentials", async () => {
    const id = `auth-events-${Date.now()}`;
    await setWebhookUrls(await scriptReceiver(id, []));
    await createWebhookConnection("openai-auth-events", "tenant-auth", null);
    expect((await api("DELETE", "/connections/tenant-auth?provider_config_key=openai-auth-events")).status).toBeLessThan(300);

    const bodies = await waitFor(async () => {
      const r = (await receivedBy(id)).map((x) => JSON.parse(x.body));
      return r.length >= 2 ? r : undefined;
    }, "two auth events");
    const ops = bodies.map((b) => b.payload.operation).sort();
    expect(ops).toEqual(["creation", "deletion"]);
    for (const b of bodies)
      expect(b).toMatchObject({ type: "auth", from: "terapi", connection_id: "tenant-auth", provider_config_key: "openai-auth-events", provider: "openai" });
    expect(JSON.stringify(bodies)).not.toContain("sk-test-good");
    expect((await listDeliveries("type=auth&connection_id=tenant-auth")).data.length).toBe(2);
  });
});

describe("async proxy completion", () => {
  it("sends an async_proxy event when a background proxy call finishes", async () => {
    const id = `async-proxy-${Date.now()}`;
    await setWebhookUrls(await scriptReceiver(id, []));
    await createWebhookConnection("openai-async-events", "tenant-async", null);
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("http://terapi.test/proxy/v1/models", {
      headers: {
        authorization: "Bearer test-secret-key-current",
        "connection-id": "tenant-async",
        "provider-config-key": "openai-async-events",
        async: "true",
      },
    });
    expect(res.status).toBe(202);
    const job = await res.json<{ id: string }>();
    const body = await waitFor(async () => {
      const r = (await receivedBy(id)).map((x) => JSON.parse(x.body)).find((b) => b.type === "async_proxy");
      return r;
    }, "the async_proxy event");
    expect(body).toMatchObject({
      type: "async_proxy",
      connection_id: "tenant-async",
      provider_config_key: "openai-async-events",
      provider: "openai",
      payload: { id: job.id, status: "completed", response_status: 200 },
    });
  });
});
