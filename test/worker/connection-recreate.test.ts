import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { proxyFetch, settleSyncs, simKey, type Tenant } from "../harness/connections";

const json = (body: unknown) => ({ method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });

describe("a connection deleted and created again under the same id", () => {
  it("starts from a clean, working object: proxy, async jobs, syncs and logs", async () => {
    const key = await simKey();
    const pck = `openai-recreate-${crypto.randomUUID().slice(0, 8)}`;
    expect((await SELF.fetch(`${TERAPI}/integrations`, json({ unique_key: pck, provider: "openai" }))).status).toBe(201);
    const create = () =>
      SELF.fetch(`${TERAPI}/connections`, json({ provider_config_key: pck, connection_id: "again", credentials: { type: "API_KEY", apiKey: key } }));
    const t: Tenant = {
      providerConfigKey: pck,
      connectionId: "again",
      apiKey: key,
      headers: { "Connection-Id": "again", "Provider-Config-Key": pck },
      client: undefined as never,
    };

    expect((await create()).status).toBe(201);
    await settleSyncs(t);
    expect((await proxyFetch(t, "/v1/models")).status).toBe(200);
    const del = await SELF.fetch(`${TERAPI}/connections/again?provider_config_key=${pck}`, { method: "DELETE", headers: auth });
    expect(del.status).toBe(204);

    // The same Durable Object instance is still in memory: it must work as new.
    expect((await create()).status).toBe(201);
    await settleSyncs(t);
    const status = await SELF.fetch(`${TERAPI}/sync/status?provider_config_key=${pck}&connection_id=again`, { headers: auth });
    const { syncs } = (await status.json()) as { syncs: { name: string; status: string }[] };
    expect(syncs.map((s) => s.status)).not.toContain("ERROR");
    expect((await proxyFetch(t, "/v1/models")).status).toBe(200);
    const queued = await proxyFetch(t, "/v1/models", { headers: { async: "true" } });
    expect(queued.status).toBe(202);
    const { status_url } = (await queued.json()) as { status_url: string };
    const job = await waitFor(async () => {
      const j = (await (await SELF.fetch(status_url, { headers: auth })).json()) as { status: string };
      return j.status === "completed" || j.status === "failed" ? j : undefined;
    }, "the async job to end");
    expect(job.status).toBe("completed");
    const records = await SELF.fetch(`${TERAPI}/records?model=models`, { headers: { ...auth, ...t.headers } });
    expect(records.status).toBe(200);
    expect(((await records.json()) as { records: unknown[] }).records.length).toBeGreaterThan(0);
  });
});
