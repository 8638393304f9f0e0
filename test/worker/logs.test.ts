import { env, runInDurableObject, SELF } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectionObject } from "../../src/bindings/stubs";
import type { OperationLog } from "../../src/logs/types";
import { generateWebhookSecret } from "../../src/webhooks/standard-webhooks";
import { api } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, simFault, simKey, type Tenant } from "../harness/connections";
import { drainIndex, scriptReceiver, setWebhookUrls } from "../harness/webhooks";

type Page = { logs: OperationLog[]; next_cursor: string | null };
/** One connection's log is read from its object; wider queries from the index, brought up to date first (driven, not waited for). */
const logs = async (query: string) => {
  await drainIndex();
  const res = await api<Page>("GET", `/logs?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const of = (t: Tenant, extra = "") => `provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}${extra}`;

// Everything the worker writes to the console while these tests run.
const consoleLines: string[] = [];
const spies = (["log", "info", "warn", "error", "debug"] as const).map((m) =>
  vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
    consoleLines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
  }),
);
afterAll(() => spies.forEach((s) => s.mockRestore()));

let tenant: Tenant;
let other: Tenant;
const webhookSecret = generateWebhookSecret();

beforeAll(async () => {
  await setWebhookUrls(await scriptReceiver("logs-test", []));
  tenant = await createTenant(await simKey());
  other = await createTenant(await simKey());
  // One success, one retried 500 that then succeeds, one provider 404, one terapi error (bad Retries header).
  // The fault's path is one the connection's syncs (which start on creation) never call.
  expect((await proxyFetch(tenant, "/v1/models")).status).toBe(200);
  await simFault({ key: tenant.apiKey, count: 1, status: 500, path_prefix: "/v1/models/gpt-4o-mini" });
  expect((await proxyFetch(tenant, "/v1/models/gpt-4o-mini?limit=5")).status).toBe(200);
  expect((await proxyFetch(tenant, "/v1/files/file-does-not-exist")).status).toBe(404);
  expect((await proxyFetch(tenant, "/v1/models", { headers: { retries: "99" } })).status).toBe(400);
  expect((await proxyFetch(other, "/v1/models")).status).toBe(200);
  await waitFor(async () => (await logs(of(tenant, "&type=proxy"))).logs.length >= 3, "proxy lines");
  await waitFor(async () => (await logs(of(other, "&type=proxy"))).logs.length >= 1, "the other tenant's proxy line");
});

describe("GET /logs", () => {
  it("records proxy calls with method, path (no query), status, retries, waits and the upstream x-request-id", async () => {
    const { logs: lines } = await logs(of(tenant, "&type=proxy"));
    expect(lines.map((l) => l.http_status)).toEqual([404, 200, 200]);
    const [missing, retried, first] = lines;
    expect(first).toMatchObject({ type: "proxy", status: "success", method: "GET", path: "/v1/models", retries: 0 });
    expect(first.request_id).toMatch(/\S+/);
    expect(retried).toMatchObject({ status: "success", path: "/v1/models/gpt-4o-mini", retries: 1 });
    expect(retried.wait_ms).toBeGreaterThan(0);
    expect(missing).toMatchObject({ status: "failure", path: "/v1/files/file-does-not-exist" });
    // terapi's own refusal (invalid Retries) before anything went upstream is not a proxy call: it never reached forward.
    expect(lines.every((l) => l.connection_id === tenant.connectionId)).toBe(true);
  });

  it("filters by status (outcome or HTTP code), type, integration and connection id", async () => {
    expect((await logs(of(tenant, "&status=failure&type=proxy"))).logs.map((l) => l.http_status)).toEqual([404]);
    expect((await logs(of(tenant, "&status=200&type=proxy"))).logs).toHaveLength(2);
    expect((await logs(of(tenant, "&type=action"))).logs).toEqual([]);
    expect((await logs(of(tenant, "&type=delivery"))).logs.every((l) => l.type === "delivery")).toBe(true);
    const byPck = await logs(`provider_config_key=${other.providerConfigKey}&type=proxy`);
    expect(byPck.logs.map((l) => l.connection_id)).toEqual([other.connectionId]);
    const byId = await logs(`connection_id=${tenant.connectionId}&type=proxy`);
    expect(byId.logs).toHaveLength(3);
    expect((await api("GET", "/logs?status=maybe")).status).toBe(400);
    expect((await api("GET", "/logs?type=nope")).status).toBe(400);
  });

  it("pages with limit and cursor, newest first, without gaps or repeats", async () => {
    const all = (await logs(of(tenant, "&type=proxy"))).logs.map((l) => l.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await logs(of(tenant, `&type=proxy&limit=1${cursor ? `&cursor=${cursor}` : ""}`));
      seen.push(...page.logs.map((l) => l.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all);
    expect((await api("GET", `/logs?${of(tenant)}&cursor=garbage`)).status).toBe(400);
  });

  it("records outgoing deliveries (the auth event of each creation) per connection", async () => {
    const line = await waitFor(async () => (await logs(of(tenant, "&type=delivery"))).logs.find((l) => l.detail?.startsWith("auth")), "an auth delivery line");
    expect(line).toMatchObject({ type: "delivery", status: "success", http_status: 200, method: "POST" });
    expect(line.detail).toContain("auth");
  });

  it("records inbound webhooks, accepted and refused", async () => {
    const pck = tenant.providerConfigKey;
    const id = `hooked-${crypto.randomUUID().slice(0, 8)}`;
    const key = await simKey();
    const created = await api("POST", "/connections", {
      provider_config_key: pck,
      connection_id: id,
      credentials: { type: "API_KEY", apiKey: key },
      connection_config: { webhook_secret: webhookSecret },
    });
    expect(created.status).toBe(201);
    const body = JSON.stringify({ id: "evt_1", object: "event", created_at: Math.floor(Date.now() / 1000), type: "batch.completed", data: { id: "batch_1" } });
    const whId = `wh_${crypto.randomUUID()}`;
    // One instant for the signature and its header: two reads of the clock can fall either side of a second.
    const now = new Date();
    const signature = new Webhook(webhookSecret).sign(whId, now, body);
    const headers = { "content-type": "application/json", "webhook-id": whId, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)) };
    expect(
      (await SELF.fetch(`http://terapi.test/webhook/${pck}/${id}`, { method: "POST", headers: { ...headers, "webhook-signature": signature }, body })).status,
    ).toBe(200);
    expect(
      (await SELF.fetch(`http://terapi.test/webhook/${pck}/${id}`, { method: "POST", headers: { ...headers, "webhook-signature": "v1,AAAA" }, body })).status,
    ).toBe(401);
    const lines = await waitFor(async () => {
      const l = (await logs(`provider_config_key=${pck}&connection_id=${id}&type=webhook`)).logs;
      return l.length >= 2 ? l : undefined;
    }, "webhook lines");
    expect(lines.map((l) => [l.status, l.http_status, l.detail])).toEqual([
      ["failure", 401, "invalid_signature: no_matching_signature"],
      ["success", 200, "batch.completed"],
    ]);
  });

  it("bad-signature webhooks cannot flood a connection's log: one line per minute and reason, with a count, real operations stay on top", async () => {
    const pck = tenant.providerConfigKey;
    const id = `flooded-${crypto.randomUUID().slice(0, 8)}`;
    const created = await api("POST", "/connections", {
      provider_config_key: pck,
      connection_id: id,
      credentials: { type: "API_KEY", apiKey: await simKey() },
      connection_config: { webhook_secret: webhookSecret },
    });
    expect(created.status).toBe(201);
    const headers = {
      "content-type": "application/json",
      "webhook-id": "wh_flood",
      "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
      "webhook-signature": "v1,AAAA",
    };
    const flood = await Promise.all(
      Array.from({ length: 40 }, () => SELF.fetch(`http://terapi.test/webhook/${pck}/${id}`, { method: "POST", headers, body: "{}" })),
    );
    expect(flood.every((r) => r.status === 401)).toBe(true);
    const webhookLines = async () => (await logs(`provider_config_key=${pck}&connection_id=${id}&type=webhook`)).logs;
    const lines = await waitFor(async () => {
      const l = await webhookLines();
      return l.length === 1 && l[0].detail === "invalid_signature: no_matching_signature (×40 within 60 s)" ? l : undefined;
    }, "one aggregated line");
    expect(lines.map((l) => [l.status, l.http_status])).toEqual([["failure", 401]]);
    // The environment-wide index has the window's line once (its first), not 40; the count is the connection log's.
    const indexed = (await logs(`connection_id=${id}&type=webhook`)).logs;
    expect(indexed.map((l) => [l.status, l.http_status, l.detail])).toEqual([["failure", 401, "invalid_signature: no_matching_signature"]]);

    // The next minute starts a new line; other lines are never merged into it.
    const stub = connectionObject(env, pck, id);
    const base = Date.parse(lines[0].created_at);
    const line = (at: number, detail: string, aggregate: boolean) => ({
      id: `log_${at.toString(36)}${crypto.randomUUID().slice(0, 6)}`,
      at,
      provider_config_key: pck,
      connection_id: id,
      type: "webhook" as const,
      status: "failure" as const,
      http_status: 401,
      duration_ms: 1,
      retries: 0,
      wait_ms: 0,
      request_id: null,
      method: "POST",
      path: null,
      detail,
      aggregate,
    });
    await stub.appendLogs([
      line(base + 61_000, "invalid_signature: no_matching_signature", true),
      line(base + 62_000, "invalid_signature: no_matching_signature", true),
    ]);
    await stub.appendLogs([
      line(base + 63_000, "invalid_signature: timestamp_too_old", true),
      line(base + 64_000, "not aggregated", false),
      line(base + 65_000, "not aggregated", false),
    ]);
    expect((await webhookLines()).map((l) => l.detail)).toEqual([
      "not aggregated",
      "not aggregated",
      "invalid_signature: timestamp_too_old",
      "invalid_signature: no_matching_signature (×2 within 60 s)",
      "invalid_signature: no_matching_signature (×40 within 60 s)",
    ]);
  });

  it("never stores nor prints a key or a webhook secret", async () => {
    const secrets = [tenant.apiKey, other.apiKey, webhookSecret, webhookSecret.slice("whsec_".length)];
    const stored: unknown[] = [];
    for (const t of [tenant, other])
      stored.push(
        await runInDurableObject(connectionObject(env, t.providerConfigKey, t.connectionId), (_o, state) =>
          state.storage.sql.exec("SELECT * FROM operation_logs").toArray(),
        ),
      );
    const everything = [JSON.stringify(stored), JSON.stringify(await logs("limit=500")), ...consoleLines].join("\n");
    expect(JSON.stringify(stored)).toContain("/v1/models");
    for (const s of secrets) expect(everything).not.toContain(s);
    // Nor the query string of a proxied call.
    expect(everything).not.toContain("limit=5");
  });
});
