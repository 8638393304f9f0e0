import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret } from "../../src/webhooks/standard-webhooks";
import { auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { sim } from "../harness/connections";
import { createWebhookConnection, receivedBy, scriptReceiver, setWebhookUrls } from "../harness/webhooks";

type SimWebhook = { id: string; headers: Record<string, string>; body: string };

/**
 * The simulator's batch lifecycle signs webhooks the way OpenAI does. It cannot
 * reach the Worker under test (no address), so its recorded webhooks are
 * replayed into terapi byte for byte.
 */
describe("simulator batch → signed webhook → terapi", () => {
  it("verifies and forwards the webhook the simulator signed when a batch completed, and the batch record updates", async () => {
    const key = `sk-test-wh-${Date.now()}`;
    await sim("POST", "/__sim/keys", { key, batch_step_ms: 3_600_000 });
    const secret = generateWebhookSecret();
    await sim("POST", "/__sim/webhooks", { key, secret });
    const pck = "openai-sim-webhooks";
    await createWebhookConnection(pck, "tenant-sim", secret, key);
    const rid = `sim-forward-${Date.now()}`;
    await setWebhookUrls(await scriptReceiver(rid, []));

    // A batch created through terapi's proxy, on the tenant's behalf.
    const proxyHeaders = { ...auth, "connection-id": "tenant-sim", "provider-config-key": pck };
    const form = new FormData();
    const line = JSON.stringify({
      custom_id: "r1",
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
    });
    form.append("purpose", "batch");
    form.append("file", new File([line + "\n"], "batch.jsonl", { type: "application/jsonl" }));
    const file = await (await SELF.fetch(`${TERAPI}/proxy/v1/files`, { method: "POST", headers: proxyHeaders, body: form })).json<{ id: string }>();
    const batchRes = await SELF.fetch(`${TERAPI}/proxy/v1/batches`, {
      method: "POST",
      headers: { ...proxyHeaders, "content-type": "application/json" },
      body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }),
    });
    expect(batchRes.status).toBe(200);
    const batch = await batchRes.json<{ id: string }>();
    await sim("POST", "/__sim/advance", { key, batch_id: batch.id, to: "completed" });

    const recorded = await sim<SimWebhook[]>("GET", `/__sim/webhooks?key=${encodeURIComponent(key)}`);
    const completed = recorded.find((w) => JSON.parse(w.body).type === "batch.completed");
    expect(completed).toBeDefined();
    if (!completed) return;

    const replay = () => SELF.fetch(`${TERAPI}/webhook/${pck}/tenant-sim`, { method: "POST", headers: completed.headers, body: completed.body });
    const res = await replay();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ duplicate: false, event_type: "batch.completed" });
    // OpenAI redelivers the same webhook-id when it gets no 2xx in time.
    expect(await (await replay()).json()).toMatchObject({ duplicate: true });

    const forwardsOf = async () => (await receivedBy(rid)).filter((r) => (JSON.parse(r.body) as { type: string }).type === "forward");
    const forwarded = await waitFor(async () => {
      const r = await forwardsOf();
      return r.length ? r : undefined;
    }, "the forward event");
    expect(forwarded).toHaveLength(1);
    expect(JSON.parse(forwarded[0].body)).toMatchObject({
      type: "forward",
      connection_id: "tenant-sim",
      provider_config_key: pck,
      provider: "openai",
      payload: { type: "batch.completed", data: { id: batch.id } },
    });

    // The event triggered the batches sync: the tenant's record shows the completed batch.
    type Rec = { id: string; status: string; _nango_metadata: { last_action: string } };
    const record = await waitFor(async () => {
      const res = await SELF.fetch(`${TERAPI}/records?model=batches&ids=${batch.id}`, {
        headers: { ...auth, "connection-id": "tenant-sim", "provider-config-key": pck },
      });
      const { records } = await res.json<{ records: Rec[] }>();
      return records.find((r) => r.status === "completed");
    }, "the updated batch record");
    expect(record.id).toBe(batch.id);
    expect(["ADDED", "UPDATED"]).toContain(record._nango_metadata.last_action);
    // The replayed duplicate was not processed again.
    expect(await forwardsOf()).toHaveLength(1);
  });
});
