import { describe, expect, it } from "vitest";
import { api, createWebhookConnection, listDeliveries, receivedBy, scriptReceiver, setWebhookUrls, waitFor } from "../harness/webhooks";

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
