import { SELF, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { connectionObject, registryObject } from "../../src/bindings/stubs";
import { registryClient } from "../../src/bindings/registry-client";
import { connectionCache } from "../../src/connections/cache";
import { parseSealed } from "../../src/crypto";
import { type ConnectionSecret, saveConnectionSecret, secretKvKey } from "../../src/store/connection-secret";
import { api, auth, type Json, TERAPI } from "../harness/api";
import { simRequests } from "../harness/connections";
import { callWithEnv, createConnection, createIntegration, newMasterKey, uid } from "../harness/management";

type Connection = {
  id: string;
  connection_id: string;
  provider_config_key: string;
  provider: string;
  credentials: { type: string; apiKey: string };
  connection_config: Record<string, string>;
  metadata: Json;
  end_user: Json | null;
  tags: Record<string, string>;
};
type Page = { connections: Connection[]; next_cursor: string | null };

const ids = (page: Json | null) => (page as Page).connections.map((c) => c.connection_id);

/** Nothing of this connection exists: no KV value, no index row, not listed. */
async function expectNothingStored(pck: string, id: string) {
  expect(await env.SECRETS.get(secretKvKey(pck, id))).toBeNull();
  expect((await api("GET", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(404);
  expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).not.toContain(id);
}

describe("POST /connections", () => {
  it("verifies a good key, stores it encrypted and lists it at once", async () => {
    const pck = await createIntegration();
    const id = `tenant-${uid()}`;
    const res = await createConnection(pck, {
      connection_id: id,
      connection_config: { organization_id: "org-abc", project_id: "proj_xyz", webhook_secret: "whsec_c2VjcmV0LXdlYmhvb2s=" },
      metadata: { plan: "pro", nested: { a: [1, 2] } },
      end_user: { id: "u-1", email: "ada@example.com", display_name: "Ada" },
      tags: { region: "eu" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      connection_id: id,
      provider_config_key: pck,
      provider: "openai",
      created_at: expect.any(String),
      updated_at: expect.any(String),
      // Nango's fields (its SDK's ApiPublicConnection / ApiPublicConnectionFull).
      created: expect.any(String),
      errors: [],
      last_fetched_at: null,
      credentials: { type: "API_KEY", apiKey: "…od", masked: true },
      connection_config: { organization_id: "org-abc", project_id: "proj_xyz", webhook_secret: "whse…b2s=" },
      metadata: { plan: "pro", nested: { a: [1, 2] } },
      end_user: { id: "u-1", email: "ada@example.com", display_name: "Ada" },
      tags: { region: "eu" },
    });
    expect(res.text).not.toContain("sk-test-good");
    expect(res.text).not.toContain("c2VjcmV0LXdlYmhvb2s");

    const raw = (await env.SECRETS.get(secretKvKey(pck, id))) as string;
    expect(raw).not.toContain("sk-test-good");
    expect(raw).not.toContain("whsec_");
    expect(parseSealed(raw).kid).toBe("k1");

    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).toEqual([id]);
    const got = await api("GET", `/connections/${id}?provider_config_key=${pck}`);
    expect(got.body).toEqual(res.body);
  });

  it("sends the connection's organization and project with the check", async () => {
    const pck = await createIntegration();
    const org = `org-${uid()}`;
    expect((await createConnection(pck, { connection_config: { organization_id: org, project_id: "proj_1" } })).status).toBe(201);
    const seen = (await simRequests("sk-test-good")).filter((r) => r.headers["openai-organization"] === org);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "GET", path: "/v1/models" });
    expect(seen[0].headers["openai-project"]).toBe("proj_1");
  });

  it("reveal=true returns the real key and webhook secret", async () => {
    const pck = await createIntegration();
    const id = `r-${uid()}`;
    await createConnection(pck, { connection_id: id, connection_config: { webhook_secret: "whsec_abcdefghijklmnop" } });
    const revealed = await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`);
    expect(revealed.body).toMatchObject({
      credentials: { type: "API_KEY", apiKey: "sk-test-good" },
      connection_config: { webhook_secret: "whsec_abcdefghijklmnop" },
    });
    const masked = await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=false`);
    expect(masked.text).not.toContain("sk-test-good");
  });

  it("refuses a key the provider rejects, with the provider's reason, storing nothing", async () => {
    const pck = await createIntegration();
    const id = `bad-${uid()}`;
    const res = await createConnection(pck, { connection_id: id, credentials: { type: "API_KEY", apiKey: "sk-test-unknown-key-1234" } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: { code: "connection_test_failed", message: expect.stringMatching(/Incorrect API key provided/) },
    });
    expect(res.text).not.toContain("sk-test-unknown-key-1234");
    await expectNothingStored(pck, id);
    // The id was not left claimed.
    expect((await createConnection(pck, { connection_id: id })).status).toBe(201);
  });

  it("accepts a restricted key (403 missing scopes on the check)", async () => {
    const pck = await createIntegration();
    const res = await createConnection(pck, { credentials: { type: "API_KEY", apiKey: "sk-test-restricted" } });
    expect(res.status).toBe(201);
  });

  it("verifies an admin key on an openai integration through the admin endpoint", async () => {
    const pck = await createIntegration("openai");
    const before = (await simRequests("sk-admin-test")).length;
    const res = await createConnection(pck, { credentials: { type: "API_KEY", apiKey: "sk-admin-test" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ provider: "openai" });
    const seen = (await simRequests("sk-admin-test")).slice(before);
    expect(seen.map((r) => r.path)).toEqual([expect.stringMatching(/^\/v1\/organization\/projects/)]);
  });

  it("answers 502 upstream_unreachable when the provider cannot be reached", async () => {
    const pck = await createIntegration();
    const id = `down-${uid()}`;
    const res = await callWithEnv({ OPENAI_BASE_URL: "http://127.0.0.1:9" }, "POST", "/connections", {
      provider_config_key: pck,
      connection_id: id,
      credentials: { type: "API_KEY", apiKey: "sk-test-good" },
    });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: { code: "upstream_unreachable" } });
    await expectNothingStored(pck, id);
  });

  it("404s an unknown integration", async () => {
    const res = await createConnection("no-such-integration");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: "unknown_integration" } });
  });

  it("409s a duplicate connection id and keeps the original", async () => {
    const pck = await createIntegration();
    const id = `dup-${uid()}`;
    expect((await createConnection(pck, { connection_id: id })).status).toBe(201);
    const dup = await createConnection(pck, { connection_id: id, credentials: { type: "API_KEY", apiKey: "sk-test-restricted" } });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ error: { code: "connection_exists" } });
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({
      credentials: { apiKey: "sk-test-good" },
    });
  });

  it("two concurrent creates of one id: one wins, and its key is the one stored", async () => {
    const pck = await createIntegration();
    const id = `race-${uid()}`;
    const keys = ["sk-test-good", "sk-test-restricted"];
    const results = await Promise.all(keys.map((apiKey) => createConnection(pck, { connection_id: id, credentials: { type: "API_KEY", apiKey } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = keys[results.findIndex((r) => r.status === 201)];
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({ credentials: { apiKey: winner } });
  });

  it("a connection looked up just before it existed is usable as soon as it is created (no remembered miss)", async () => {
    const pck = await createIntegration();
    const id = `early-${uid()}`;
    expect((await proxied(pck, id)).status).toBe(404); // remembered as unknown in this isolate for a while
    expect((await createConnection(pck, { connection_id: id })).status).toBe(201);
    expect((await proxied(pck, id)).status).toBe(200);
  });

  it("generates a uuid connection id when none is given", async () => {
    const pck = await createIntegration();
    const res = await api("POST", "/connections", { provider_config_key: pck, credentials: { type: "API_KEY", apiKey: "sk-test-good" } });
    expect(res.status).toBe(201);
    expect((res.body as Connection).connection_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it.each([
    ["a bad connection id", { connection_id: "has space" }],
    ["a too long connection id", { connection_id: "x".repeat(129) }],
    ["another credential type", { credentials: { type: "OAUTH2", apiKey: "sk-test-good" } }],
    ["a missing apiKey", { credentials: { type: "API_KEY" } }],
    ["wrong types", { metadata: "nope", tags: { a: 1 } }],
    ["a bad end user email", { end_user: { id: "u", email: "not-an-email" } }],
  ])("refuses %s with 400 and stores nothing", async (_label, body) => {
    const pck = await createIntegration();
    const res = await createConnection(pck, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: "invalid_request", message: expect.any(String) } });
    expect(res.text).not.toContain("sk-test-good");
    expect((await api("GET", `/connections?provider_config_key=${pck}`)).body).toEqual({ connections: [], next_cursor: null });
  });

  it.each([".", "..", "..."])("refuses the connection id %j (only dots: a URL path cannot address it) with 400 naming the field", async (id) => {
    const pck = await createIntegration();
    const res = await createConnection(pck, { connection_id: id });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: { code: "invalid_request", message: "connection_id: must not be made of dots only (a URL path cannot address it)" },
    });
    expect(await env.SECRETS.get(secretKvKey(pck, id))).toBeNull();
  });

  it.each([
    ["credentials.apiKey", { credentials: { type: "API_KEY", apiKey: "sk-test-good\r\nX-Injected: 1" } }],
    ["credentials.apiKey", { credentials: { type: "API_KEY", apiKey: "sk-test-good\u0000" } }],
    ["connection_config.organization_id", { connection_config: { organization_id: "org-1\r\nX-Injected: 1" } }],
    ["connection_config.project_id", { connection_config: { project_id: "proj\n1" } }],
  ])("refuses a control character in %s with 400 naming the field, before any call to the provider", async (field, body) => {
    const pck = await createIntegration();
    const id = `ctl-${uid()}`;
    const res = await createConnection(pck, { connection_id: id, ...body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: { code: "invalid_request", message: `${field}: must not contain control characters (CR, LF, tab, NUL, …): it is sent in an HTTP header` },
    });
    await expectNothingStored(pck, id);
  });

  it.each(["not a secret!!", "whsec_", "whsec_not base64", "whsec_YWJj", "c2VjcmV0LXdlYmhvb2s=", `whsec_${btoa("x".repeat(129))}`])(
    "refuses the webhook_secret %j with 400 naming the field",
    async (webhook_secret) => {
      const pck = await createIntegration();
      const id = `whs-${uid()}`;
      const res = await createConnection(pck, { connection_id: id, connection_config: { webhook_secret } });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        error: {
          code: "invalid_request",
          message: "connection_config.webhook_secret: must be whsec_ followed by the base64 of 8–128 bytes (a Standard Webhooks secret)",
        },
      });
      await expectNothingStored(pck, id);
    },
  );

  it("refuses malformed JSON and an oversized body", async () => {
    const bad = await SELF.fetch(`${TERAPI}/connections`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"provider_config_key": "x", "credentials": {"apiKey": "sk-test-good"',
    });
    expect(bad.status).toBe(400);
    const badText = await bad.text();
    expect(JSON.parse(badText)).toHaveProperty("error.message");
    expect(badText).not.toContain("sk-test-good");
    const pck = await createIntegration();
    const big = await createConnection(pck, { metadata: { blob: "x".repeat(1024 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: { code: "payload_too_large" } });
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).toEqual([]);
  });

  it("needs the secret key", async () => {
    const res = await SELF.fetch(`${TERAPI}/connections`, { headers: { authorization: "Bearer wrong" } });
    expect(res.status).toBe(401);
  });
});

describe("GET /connections", () => {
  it("filters by integration, end user and search, and pages with a stable cursor", async () => {
    const pck = await createIntegration();
    const other = await createIntegration();
    const tag = uid();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = `page-${tag}-${i}`;
      made.push(id);
      const endUser = i % 2 === 0 ? { id: `eu-${tag}`, email: `even${i}@Example.com`, display_name: `Even ${i}` } : { id: `ou-${tag}` };
      expect((await createConnection(pck, { connection_id: id, end_user: endUser })).status).toBe(201);
    }
    expect((await createConnection(other, { connection_id: `other-${tag}`, end_user: { id: `eu-${tag}` } })).status).toBe(201);

    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).toEqual(made);
    expect(ids((await api("GET", `/connections?end_user_id=eu-${tag}`)).body)).toEqual([made[0], made[2], made[4], `other-${tag}`]);
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}&end_user_id=eu-${tag}`)).body)).toEqual([made[0], made[2], made[4]]);
    expect(ids((await api("GET", `/connections?search=${tag}-3`)).body)).toEqual([made[3]]);
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}&search=EVEN2@example`)).body)).toEqual([made[2]]);
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}&search=even 4`)).body)).toEqual([made[4]]);
    expect(ids((await api("GET", `/connections?search=%25`)).body)).toEqual([]);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = (await api("GET", `/connections?provider_config_key=${pck}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)).body as Page;
      seen.push(...page.connections.map((c) => c.connection_id));
      cursor = page.next_cursor;
      pages++;
      // A connection created while paging shows up at the end, never twice.
      if (pages === 1) {
        made.push(`page-${tag}-late`);
        await createConnection(pck, { connection_id: `page-${tag}-late` });
      }
    } while (cursor);
    expect(seen).toEqual(made);
    expect(pages).toBe(3);
  });

  it.each([["limit=0"], ["limit=1001"], ["limit=abc"], ["cursor=garbage"]])("refuses %s with 400", async (query) => {
    const res = await api("GET", `/connections?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toHaveProperty("error.code");
  });

  it("GET one needs provider_config_key and 404s an unknown connection", async () => {
    const missing = await api("GET", "/connections/x");
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { code: "invalid_request", message: expect.stringContaining("provider_config_key") } });
    const pck = await createIntegration();
    const unknown = await api("GET", `/connections/nope?provider_config_key=${pck}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: "unknown_connection" } });
  });
});

describe("PATCH /connections/:id", () => {
  it("rotates the key after verifying it again", async () => {
    const pck = await createIntegration();
    const id = `rot-${uid()}`;
    await createConnection(pck, { connection_id: id, connection_config: { organization_id: "org-keep" } });
    const before = (await simRequests("sk-test-restricted")).length;
    const res = await api("PATCH", `/connections/${id}`, { provider_config_key: pck, credentials: { type: "API_KEY", apiKey: "sk-test-restricted" } });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain("sk-test-restricted");
    const checks = (await simRequests("sk-test-restricted")).slice(before);
    expect(checks.map((r) => r.headers["openai-organization"])).toEqual(["org-keep"]);
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({
      credentials: { apiKey: "sk-test-restricted" },
      connection_config: { organization_id: "org-keep" },
    });
  });

  it("refuses a rejected key and keeps the old one", async () => {
    const pck = await createIntegration();
    const id = `rot-${uid()}`;
    await createConnection(pck, { connection_id: id });
    const rawBefore = await env.SECRETS.get(secretKvKey(pck, id));
    const res = await api("PATCH", `/connections/${id}`, { provider_config_key: pck, credentials: { type: "API_KEY", apiKey: "sk-test-nope-nope-nope" } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: "connection_test_failed" } });
    expect(await env.SECRETS.get(secretKvKey(pck, id))).toBe(rawBefore);
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({ credentials: { apiKey: "sk-test-good" } });
  });

  it("changes metadata, end user, tags and config (null clears)", async () => {
    const pck = await createIntegration();
    const id = `upd-${uid()}`;
    await createConnection(pck, { connection_id: id, connection_config: { project_id: "proj_a", webhook_secret: "whsec_aaaaaaaaaaaaaaaa" } });
    const res = await api("PATCH", `/connections/${id}`, {
      provider_config_key: pck,
      metadata: { x: 1 },
      end_user: { id: "new-user" },
      tags: { team: "b" },
      connection_config: { project_id: null, organization_id: "org-new" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      metadata: { x: 1 },
      end_user: { id: "new-user" },
      tags: { team: "b" },
      connection_config: { organization_id: "org-new", webhook_secret: "whse…aaaa" },
    });
    expect((res.body as Connection).connection_config).not.toHaveProperty("project_id");
  });

  it("refuses a bad webhook_secret or a control character in the key or config with 400 naming the field, changing nothing", async () => {
    const pck = await createIntegration();
    const id = `bad-${uid()}`;
    await createConnection(pck, { connection_id: id, connection_config: { webhook_secret: "whsec_c2VjcmV0LXdlYmhvb2s=" } });
    const cases: [string, Json][] = [
      ["connection_config.webhook_secret", { connection_config: { webhook_secret: "not a secret!!" } }],
      ["connection_config.organization_id", { connection_config: { organization_id: "org\r\nx" } }],
      ["credentials.apiKey", { credentials: { type: "API_KEY", apiKey: "sk-test-good\n" } }],
    ];
    for (const [field, body] of cases) {
      const res = await api("PATCH", `/connections/${id}`, { provider_config_key: pck, ...body });
      expect(res.status).toBe(400);
      expect((res.body as { error: { message: string } }).error.message).toMatch(new RegExp(`^${field.replace(/\./g, "\\.")}: `));
    }
    const got = await api("GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`);
    expect(got.body).toMatchObject({ credentials: { apiKey: "sk-test-good" }, connection_config: { webhook_secret: "whsec_c2VjcmV0LXdlYmhvb2s=" } });
  });

  it("404s an unknown connection", async () => {
    const pck = await createIntegration();
    const res = await api("PATCH", `/connections/nope`, { provider_config_key: pck, metadata: {} });
    expect(res.status).toBe(404);
  });
});

describe("connection metadata", () => {
  it("POST replaces, PATCH merges, for one or several connections", async () => {
    const pck = await createIntegration();
    const a = `m-${uid()}`;
    const b = `m-${uid()}`;
    await createConnection(pck, { connection_id: a, metadata: { keep: true, n: 1 } });
    await createConnection(pck, { connection_id: b, metadata: { other: "x" } });
    const get = async (id: string) => ((await api("GET", `/connections/${id}?provider_config_key=${pck}`)).body as Connection).metadata;

    const merged = await api("PATCH", "/connections/metadata", { connection_id: a, provider_config_key: pck, metadata: { n: 2, added: "y" } });
    expect(merged.status).toBe(200);
    expect(await get(a)).toEqual({ keep: true, n: 2, added: "y" });

    const replaced = await api("POST", "/connections/metadata", { connection_id: [a, b], provider_config_key: pck, metadata: { only: 1 } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({ connection_id: [a, b], provider_config_key: pck, metadata: { only: 1 } });
    expect(await get(a)).toEqual({ only: 1 });
    expect(await get(b)).toEqual({ only: 1 });
  });

  it("changes nothing when one of the connections is unknown", async () => {
    const pck = await createIntegration();
    const a = `m-${uid()}`;
    await createConnection(pck, { connection_id: a, metadata: { v: 1 } });
    const res = await api("POST", "/connections/metadata", { connection_id: [a, "ghost"], provider_config_key: pck, metadata: { v: 2 } });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: "unknown_connection", message: expect.stringContaining("ghost") } });
    expect(((await api("GET", `/connections/${a}?provider_config_key=${pck}`)).body as Connection).metadata).toEqual({ v: 1 });
  });

  it("refuses metadata nested 10,000 levels deep or over 64 KiB with 400 naming the limit, on every route that takes it", async () => {
    const pck = await createIntegration();
    const id = `deep-${uid()}`;
    await createConnection(pck, { connection_id: id, metadata: { keep: true } });
    // Built as text: building it as an object and stringifying would overflow here first.
    const deepText = `{"provider_config_key":"${pck}","connection_id":"${id}","metadata":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`;
    const send = (method: string, path: string, text: string) =>
      SELF.fetch(`${TERAPI}${path}`, { method, headers: { ...auth, "content-type": "application/json" }, body: text });
    const deepErr = { error: { code: "invalid_request", message: "metadata: nests deeper than 32 levels (the limit)" } };
    for (const [method, path] of [
      ["POST", "/connections/metadata"],
      ["PATCH", "/connections/metadata"],
    ] as const) {
      const res = await send(method, path, deepText);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject(deepErr);
    }
    const created = await send(
      "POST",
      "/connections",
      deepText.replace(`"connection_id":"${id}"`, `"connection_id":"${id}-2","credentials":{"type":"API_KEY","apiKey":"sk-test-good"}`),
    );
    expect(created.status).toBe(400);
    expect(await created.json()).toMatchObject(deepErr);
    const patched = await send("PATCH", `/connections/${id}`, deepText.replace(`,"connection_id":"${id}"`, ""));
    expect(patched.status).toBe(400);
    expect(await patched.json()).toMatchObject(deepErr);
    // 32 levels are fine.
    let ok: Json = { leaf: 1 };
    for (let d = 1; d < 32; d++) ok = { n: ok };
    expect((await api("POST", "/connections/metadata", { provider_config_key: pck, connection_id: id, metadata: ok })).status).toBe(200);
    const big = await api("POST", "/connections/metadata", { provider_config_key: pck, connection_id: id, metadata: { blob: "x".repeat(70_000) } });
    expect(big.status).toBe(400);
    expect(big.body).toMatchObject({ error: { code: "invalid_request", message: "metadata: is larger than 65536 bytes as JSON (the limit)" } });
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}`)).body).toMatchObject({ metadata: ok });
  });

  it("validates the body", async () => {
    const res = await api("PATCH", "/connections/metadata", { connection_id: [], provider_config_key: "x", metadata: [] });
    expect(res.status).toBe(400);
  });
});

describe("DELETE /connections/:id", () => {
  it("removes the secret, the index row and the connection's object", async () => {
    const pck = await createIntegration();
    const id = `del-${uid()}`;
    await createConnection(pck, { connection_id: id });
    await runInDurableObject(connectionObject(env, pck, id), async (_o, state) => state.storage.put("pending", 1));

    expect((await api("DELETE", `/connections/${id}`)).status).toBe(400);
    const res = await api("DELETE", `/connections/${id}?provider_config_key=${pck}`);
    expect(res.status).toBe(204);
    await expectNothingStored(pck, id);
    expect(await runInDurableObject(connectionObject(env, pck, id), async (_o, state) => (await state.storage.list()).size)).toBe(0);
    expect((await api("DELETE", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(404);
    // The id is free again.
    expect((await createConnection(pck, { connection_id: id })).status).toBe(201);
  });
});

/** A proxied call on the connection, as a tenant's app makes it. */
const proxied = (pck: string, id: string) => SELF.fetch(`${TERAPI}/proxy/v1/models`, { headers: { ...auth, "connection-id": id, "provider-config-key": pck } });

const tenantSecret = (pck: string, id: string): ConnectionSecret => ({
  providerConfigKey: pck,
  connectionId: id,
  provider: "openai",
  credentials: { type: "API_KEY", apiKey: "sk-test-good" },
  config: {},
});

/** Time passes for the registry's claims on ids: they all run out now. */
const expireReservations = () =>
  runInDurableObject(registryObject(env), async (_o, state) => {
    state.storage.sql.exec("UPDATE connection_reservations SET expires_at = 0");
  });

describe("a create that died half-way", () => {
  it("leaves no working key: the claimed id is 'being created' (409, Retry-After), the proxy refuses the pending secret, and DELETE removes it once the claim ran out", async () => {
    const pck = await createIntegration();
    const id = `crash-${uid()}`;
    // What POST /connections leaves when its Worker dies after writing the secret and before the index row.
    const claim = await registryClient(env).reserveConnection(pck, id);
    expect(claim.ok).toBe(true);
    await saveConnectionSecret(env, tenantSecret(pck, id), crypto.randomUUID());

    const proxy = await proxied(pck, id);
    expect(proxy.status).toBe(404);
    expect(await proxy.json()).toMatchObject({ error: { code: "unknown_connection" } });
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(404);

    const again = await createConnection(pck, { connection_id: id });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: "connection_being_created", message: expect.stringContaining(id) } });
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(again.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    const early = await api("DELETE", `/connections/${id}?provider_config_key=${pck}`);
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: { code: "connection_being_created" } });
    expect(early.headers.get("retry-after")).toBeTruthy();

    await expireReservations();
    expect((await api("DELETE", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(204);
    await expectNothingStored(pck, id);
    expect((await api("DELETE", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(404);
    // The id is free again, and works.
    expect((await createConnection(pck, { connection_id: id })).status).toBe(201);
    expect((await proxied(pck, id)).status).toBe(200);
  });

  it("a secret left without an index row by an older version (not marked pending) is removed by DELETE", async () => {
    const pck = await createIntegration();
    const id = `orphan-${uid()}`;
    await saveConnectionSecret(env, tenantSecret(pck, id));
    expect((await api("GET", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(404);
    expect((await api("DELETE", `/connections/${id}?provider_config_key=${pck}`)).status).toBe(204);
    await expectNothingStored(pck, id);
    expect((await proxied(pck, id)).status).toBe(404);
  });

  it("a create that died after its index row and before the secret's commit still works (the row is what counts)", async () => {
    const pck = await createIntegration();
    const id = `half-${uid()}`;
    const created = await createConnection(pck, { connection_id: id });
    expect(created.status).toBe(201);
    expect(
      await runInDurableObject(registryObject(env), async (_o, state) => state.storage.sql.exec("SELECT 1 FROM connection_reservations").toArray().length),
    ).toBe(0);
    // The pending value of this row, as the create wrote it before inserting the row …
    await saveConnectionSecret(env, tenantSecret(pck, id), (created.body as Connection).id);
    connectionCache.evict(pck, id); // as another isolate sees it: not cached
    expect((await proxied(pck, id)).status).toBe(200);
    // … and one of an earlier, abandoned create of the id: not this row's, so not usable.
    await saveConnectionSecret(env, tenantSecret(pck, id), crypto.randomUUID());
    connectionCache.evict(pck, id);
    expect((await proxied(pck, id)).status).toBe(404);
  });
});

describe("DELETE /connections?connection_id=", () => {
  it("deletes a connection whose id a path cannot carry (made of dots, stored before such ids were refused)", async () => {
    const pck = await createIntegration();
    const registry = registryClient(env);
    for (const id of [".", ".."]) {
      const claim = await registry.reserveConnection(pck, id);
      if (!claim.ok) throw new Error("claim refused");
      await saveConnectionSecret(env, {
        providerConfigKey: pck,
        connectionId: id,
        provider: "openai",
        credentials: { type: "API_KEY", apiKey: "sk-test-good" },
        config: {},
      });
      const inserted = await registry.insertConnection(
        {
          id: crypto.randomUUID(),
          provider_config_key: pck,
          connection_id: id,
          provider: "openai",
          key_hint: "…od",
          connection_config: { has_webhook_secret: false },
          metadata: {},
          end_user: null,
          tags: {},
        },
        claim.token,
      );
      expect(inserted.ok).toBe(true);
    }
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body).sort()).toEqual([".", ".."]);
    // By its path it cannot be reached: the runtime resolved the dot segment before routing.
    expect((await api("DELETE", `/connections/..?provider_config_key=${pck}`)).status).toBe(404);
    for (const id of [".", ".."]) {
      const res = await api("DELETE", `/connections?provider_config_key=${pck}&connection_id=${encodeURIComponent(id)}`);
      expect(res.status).toBe(204);
      expect(await env.SECRETS.get(secretKvKey(pck, id))).toBeNull();
    }
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).toEqual([]);
    const again = await api("DELETE", `/connections?provider_config_key=${pck}&connection_id=..`);
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ error: { code: "unknown_connection" } });
  });
});

describe("master key rotation", () => {
  it("keeps every connection usable and moves values to the new kid", async () => {
    const pck = await createIntegration();
    const old = `old-${uid()}`;
    await createConnection(pck, { connection_id: old });
    const k1 = env.TERAPI_ENCRYPTION_KEY;
    const k2 = `k2:${newMasterKey()}`;
    const rotated = { TERAPI_ENCRYPTION_KEY: `${k2},${k1}` };

    expect((await callWithEnv(rotated, "GET", `/connections/${old}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({
      credentials: { apiKey: "sk-test-good" },
    });
    const fresh = `new-${uid()}`;
    expect(
      (
        await callWithEnv(rotated, "POST", "/connections", {
          provider_config_key: pck,
          connection_id: fresh,
          credentials: { type: "API_KEY", apiKey: "sk-test-restricted" },
        })
      ).status,
    ).toBe(201);
    expect(parseSealed((await env.SECRETS.get(secretKvKey(pck, fresh))) as string).kid).toBe("k2");
    expect(parseSealed((await env.SECRETS.get(secretKvKey(pck, old))) as string).kid).toBe("k1");

    const pass = await callWithEnv(rotated, "POST", "/environment/secrets/reencrypt");
    expect(pass.status).toBe(200);
    expect(pass.body).toMatchObject({ reencrypted: expect.any(Number), total: expect.any(Number), failed: 0 });
    expect(pass.body?.reencrypted as number).toBeGreaterThanOrEqual(1);
    expect(parseSealed((await env.SECRETS.get(secretKvKey(pck, old))) as string).kid).toBe("k2");
    expect((await callWithEnv(rotated, "POST", "/environment/secrets/reencrypt")).body).toMatchObject({ reencrypted: 0 });

    // The old key can go now.
    const onlyNew = { TERAPI_ENCRYPTION_KEY: k2 };
    for (const [id, key] of [
      [old, "sk-test-good"],
      [fresh, "sk-test-restricted"],
    ])
      expect((await callWithEnv(onlyNew, "GET", `/connections/${id}?provider_config_key=${pck}&reveal=true`)).body).toMatchObject({
        credentials: { apiKey: key },
      });
    // Back to k1 for the rest of the file.
    expect((await callWithEnv({ TERAPI_ENCRYPTION_KEY: `${k1},${k2}` }, "POST", "/environment/secrets/reencrypt")).status).toBe(200);
  });

  it("a malformed key ring is a clear 500 without key material", async () => {
    const pck = await createIntegration();
    const res = await callWithEnv({ TERAPI_ENCRYPTION_KEY: "k1:c2hvcnQ=" }, "POST", "/connections", {
      provider_config_key: pck,
      credentials: { type: "API_KEY", apiKey: "sk-test-good" },
    });
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: { code: "encryption_not_configured", message: expect.stringContaining("TERAPI_ENCRYPTION_KEY") } });
    expect(JSON.stringify(res.body)).not.toContain("c2hvcnQ");
    expect(ids((await api("GET", `/connections?provider_config_key=${pck}`)).body)).toEqual([]);
  });
});
