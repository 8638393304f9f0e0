// Nango's API conventions terapi keeps (the SDK itself is driven in test/node/nango-sdk.test.ts):
// trailing slashes, Nango's filter names, unknown parameters refused on every list,
// Nango-Proxy-* headers, the environment's reveal_credentials switch, 501 for what terapi lacks.
import { describe, expect, it } from "vitest";
import { api } from "../harness/api";
import { createTenant, proxyFetch, simKey, simRequests } from "../harness/connections";
import { createConnection, createIntegration, uid } from "../harness/management";

/** Every list endpoint, with what it needs besides the unknown parameter. */
const LISTS: { path: string; headers?: Record<string, string> }[] = [
  { path: "/integrations" },
  { path: "/connections" },
  { path: "/records?model=models", headers: { "connection-id": "x", "provider-config-key": "y" } },
  { path: "/logs" },
  { path: "/webhook-deliveries" },
  { path: "/actions" },
  { path: "/providers" },
  { path: "/sync/status?provider_config_key=x" },
  { path: "/environment-variables" },
];

describe("unknown query parameters are a 400 on every list endpoint, never ignored", () => {
  for (const { path, headers } of LISTS) {
    it(`GET ${path} ?unknown=1`, async () => {
      const res = await api("GET", `${path}${path.includes("?") ? "&" : "?"}unknown=1`, undefined, headers);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: "unknown_parameter", message: "Unknown parameter 'unknown'" } });
    });
  }
});

describe("Nango's conventions", () => {
  it("trailing slashes are the same route (Nango's SDK calls /records/)", async () => {
    const pck = await createIntegration();
    for (const path of ["/integrations/", `/integrations/${pck}/`, `/connections/?provider_config_key=${pck}`, "/providers/", "/providers/openai/"]) {
      const res = await api("GET", path);
      expect(res.status, path).toBe(200);
    }
    const records = await api("GET", "/records/?model=models", undefined, { "connection-id": "nope", "provider-config-key": pck });
    expect(records.status).toBe(404); // routed: the connection is what is missing
  });

  it("listConnections filters by Nango's names; an end user with no connection has none", async () => {
    const pck = await createIntegration();
    const other = await createIntegration();
    const a = await createConnection(pck, { end_user: { id: `eu-a-${uid()}` } });
    const b = await createConnection(other, { end_user: { id: `eu-b-${uid()}` }, tags: { tier: "gold" } });
    const [ida, idb] = [a.body?.connection_id as string, b.body?.connection_id as string];
    const ids = async (q: string) =>
      ((await api("GET", `/connections?${q}`)).body?.connections as { connection_id: string }[]).map((c) => c.connection_id).sort();

    expect(await ids(`endUserId=${(a.body?.end_user as { id: string }).id}`)).toEqual([ida]);
    expect(await ids(`endUserId=nobody-${uid()}`)).toEqual([]);
    expect(await ids(`connectionId=${idb}`)).toEqual([idb]);
    expect(await ids(`integrationId=${pck},${other}`)).toEqual([ida, idb].sort());
    expect(await ids(`integrationId=${other}&tags[tier]=gold`)).toEqual([idb]);
    expect(await ids(`integrationId=${other}&tags[tier]=silver`)).toEqual([]);
    const conflicting = await api("GET", `/connections?end_user_id=x&endUserId=y`);
    expect(conflicting.status).toBe(400);
  });

  it("Nango-Proxy-<Name> is sent as <Name>; the SDK's own control headers never are", async () => {
    const t = await createTenant(await simKey());
    const res = await proxyFetch(t, "/v1/models", {
      headers: {
        "Nango-Proxy-X-Tenant-Trace": "abc",
        "Base-Url-Override": "",
        "Nango-Activity-Log-Id": "log-1",
        "Nango-Is-Sync": "false",
        Decompress: "false",
      },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const sent = (await simRequests(t.apiKey)).filter((r) => r.headers["x-tenant-trace"] !== undefined);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers["x-tenant-trace"]).toBe("abc");
    expect(Object.keys(sent[0]!.headers).filter((h) => /^(nango-|base-url-override|decompress)/.test(h))).toEqual([]);

    // strict: false routes without the slash, but the proxy sends the path exactly as asked.
    await (await proxyFetch(t, "/v1/models/", { headers: { "Nango-Proxy-X-Slash": "1" } })).arrayBuffer();
    expect((await simRequests(t.apiKey)).filter((r) => r.headers["x-slash"] === "1").map((r) => r.path)).toEqual(["/v1/models/"]);

    const override = await proxyFetch(t, "/v1/models", { headers: { "Base-Url-Override": "https://elsewhere.example" } });
    expect(override.status).toBe(501);
    expect(await override.json()).toMatchObject({ error: { code: "unsupported" } });
  });

  it("credentials stay masked (and say so) until the operator turns reveal_credentials on", async () => {
    const pck = await createIntegration();
    const created = await createConnection(pck);
    const path = `/connections/${created.body?.connection_id as string}?provider_config_key=${pck}`;
    expect((await api("GET", "/environment")).body).toMatchObject({ reveal_credentials: false });
    expect((await api("GET", path)).body?.credentials).toEqual({ type: "API_KEY", apiKey: "…od", masked: true });
    try {
      expect((await api("PATCH", "/environment", { reveal_credentials: true })).body).toMatchObject({ reveal_credentials: true });
      expect((await api("GET", path)).body?.credentials).toEqual({ type: "API_KEY", apiKey: "sk-test-good", masked: false });
    } finally {
      await api("PATCH", "/environment", { reveal_credentials: false });
    }
    expect((await api("GET", path)).body?.credentials).toMatchObject({ masked: true });
  });

  it("Nango's routes and parameter names are in /openapi.json", async () => {
    const doc = (await api("GET", "/openapi.json")).body as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    for (const path of ["/providers", "/providers/{provider}", "/environment-variables", "/action/{id}", "/action/{id}/run", "/connect/sessions/reconnect"])
      expect(doc.paths[path], path).toHaveProperty(path === "/connect/sessions/reconnect" ? "post" : "get");
    const params = (doc.paths["/connections"]?.get?.parameters ?? []).map((p) => p.name);
    expect(params).toEqual(expect.arrayContaining(["endUserId", "connectionId", "integrationId", "page", "end_user_id", "cursor"]));
  });

  it("what terapi does not have is a 501 naming it, not a route miss", async () => {
    for (const [method, path] of [
      ["GET", "/scripts/config"],
      ["POST", "/integrations/quickstart"],
      ["GET", "/oauth/connect/openai"],
      ["PATCH", "/records/prune"],
      ["POST", "/sync/models/variant/v2"],
    ] as const) {
      const res = await api(method, path, method === "GET" ? undefined : {});
      expect(res.status, path).toBe(501);
      expect(res.body, path).toMatchObject({ error: { code: "unsupported", message: expect.stringContaining("not supported by terapi") } });
    }
    expect((await api("GET", "/environment-variables")).body).toEqual([]);
  });
});
