import { SELF, createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import { api, auth, TERAPI } from "../harness/api";
import { TEST_SECRET_KEYS } from "../harness/constants";
import { createConnection, createIntegration, uid } from "../harness/management";
import { describe, expect, it } from "vitest";
import { connectionObject } from "../../src/bindings/stubs";
import { registryClient } from "../../src/bindings/registry-client";
import { secretKvKey } from "../../src/store/connection-secret";

describe("management API secret key", () => {
  it("refuses a missing or wrong key, accepts the current and the rotated one", async () => {
    expect((await SELF.fetch(`${TERAPI}/integrations`)).status).toBe(401);
    const wrong = await SELF.fetch(`${TERAPI}/integrations`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: "unauthorized" } });
    const current = await SELF.fetch(`${TERAPI}/integrations`, { headers: auth });
    expect(current.status).toBe(200);
    const previous = await SELF.fetch(`${TERAPI}/integrations`, { headers: { authorization: "Bearer test-secret-key-previous" } });
    expect(previous.status).toBe(200);
  });
});

describe("integrations", () => {
  it("creates, gets, lists, renames", async () => {
    const key = `openai-${uid()}`;
    const created = await api("POST", "/integrations", { unique_key: key, provider: "openai" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      data: {
        unique_key: key,
        provider: "openai",
        display_name: "OpenAI",
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    });
    expect((await api("GET", `/integrations/${key}`)).body).toEqual(created.body);
    const list = await api("GET", "/integrations");
    expect((list.body?.data as { unique_key: string }[]).map((i) => i.unique_key)).toContain(key);
    const renamed = await api("PATCH", `/integrations/${key}`, { display_name: "OpenAI EU" });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ data: { unique_key: key, display_name: "OpenAI EU" } });
    expect((await api("GET", `/integrations/${key}`)).body).toMatchObject({ data: { display_name: "OpenAI EU" } });
  });

  it("refuses a duplicate key with 409", async () => {
    const key = await createIntegration();
    const dup = await api("POST", "/integrations", { unique_key: key, provider: "openai-admin", display_name: "x" });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ error: { code: "integration_exists" } });
    expect((await api("GET", `/integrations/${key}`)).body).toMatchObject({ data: { provider: "openai" } });
  });

  it.each([
    ["unknown provider", { unique_key: "x-unknown", provider: "nope" }, "invalid_request"],
    ["bad unique_key", { unique_key: "has space", provider: "openai" }, "invalid_request"],
    ["too long unique_key", { unique_key: "a".repeat(65), provider: "openai" }, "invalid_request"],
    ["wrong types", { unique_key: 42, provider: ["openai"] }, "invalid_request"],
    ["missing fields", {}, "invalid_request"],
  ])("refuses %s with 400", async (_label, body, code) => {
    const res = await api("POST", "/integrations", body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } });
  });

  it("refuses malformed JSON (400) and a body that is not JSON (415)", async () => {
    const bad = await SELF.fetch(`${TERAPI}/integrations`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { message: expect.stringMatching(/json/i) } });
    const text = await SELF.fetch(`${TERAPI}/integrations`, { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "hi" });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    expect((await api("GET", "/integrations")).body?.data).not.toContainEqual(expect.objectContaining({ unique_key: "x-unknown" }));
  });

  it("refuses a body over 1 MB with 413", async () => {
    const res = await api("POST", "/integrations", { unique_key: "big", provider: "openai", display_name: "x".repeat(1024 * 1024 + 10) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: { code: "payload_too_large" } });
    expect((await api("GET", "/integrations/big")).status).toBe(404);
  });

  it("404s an unknown integration on get, patch and delete", async () => {
    for (const [method, body] of [["GET"], ["PATCH", { display_name: "x" }], ["DELETE"]] as const) {
      const res = await api(method, "/integrations/does-not-exist", body);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: { code: "unknown_integration" } });
    }
  });

  it("refuses keys made only of dots with 400 naming the field; one stored before is deleted by query", async () => {
    for (const unique_key of [".", ".."]) {
      const res = await api("POST", "/integrations", { unique_key, provider: "openai" });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        error: { code: "invalid_request", message: "unique_key: must not be made of dots only (a URL path cannot address it)" },
      });
    }
    const created = await registryClient(env).createIntegration({ unique_key: "..", provider: "openai", display_name: "dots" });
    expect(created.ok).toBe(true);
    // `/integrations/..` is `/` once the runtime resolved the dot segment: no route deletes it.
    expect((await api("DELETE", "/integrations/..")).status).toBe(404);
    expect((await api("DELETE", "/integrations?unique_key=..")).status).toBe(204);
    expect(((await api("GET", "/integrations")).body as { data: { unique_key: string }[] }).data.map((i) => i.unique_key)).not.toContain("..");
    expect((await api("DELETE", "/integrations?unique_key=..")).body).toMatchObject({ error: { code: "unknown_integration" } });
  });

  it("delete removes its connections: KV secrets, index rows and each connection's object", async () => {
    const key = await createIntegration();
    const ids = [`a-${uid()}`, `b-${uid()}`];
    for (const id of ids) expect((await createConnection(key, { connection_id: id })).status).toBe(201);
    for (const id of ids) await runInDurableObject(connectionObject(env, key, id), async (_o, state) => state.storage.put("job", { pending: true }));

    const res = await api("DELETE", `/integrations/${key}`);
    expect(res.status).toBe(204);
    expect((await api("GET", `/integrations/${key}`)).status).toBe(404);
    expect((await api("GET", `/connections?provider_config_key=${key}`)).body).toEqual({ connections: [], next_cursor: null });
    for (const id of ids) {
      expect(await env.SECRETS.get(secretKvKey(key, id))).toBeNull();
      const left = await runInDurableObject(connectionObject(env, key, id), async (_o, state) => (await state.storage.list()).size);
      expect(left).toBe(0);
    }
    // The key can be used again, empty.
    expect((await api("POST", "/integrations", { unique_key: key, provider: "openai" })).status).toBe(201);
    expect((await api("GET", `/connections?provider_config_key=${key}`)).body).toMatchObject({ connections: [] });
  });

  it("is documented in /openapi.json", async () => {
    const doc = (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/integrations"]).sort()).toEqual(["delete", "get", "post"]);
    expect(Object.keys(doc.paths["/integrations/{key}"]).sort()).toEqual(["delete", "get", "patch"]);
    expect(Object.keys(doc.paths["/connections"]).sort()).toEqual(["delete", "get", "post"]);
    expect(Object.keys(doc.paths["/connections/{id}"]).sort()).toEqual(["delete", "get", "patch"]);
    expect(Object.keys(doc.paths["/connections/metadata"]).sort()).toEqual(["patch", "post"]);
    expect(doc.paths["/environment/secrets/reencrypt"]).toHaveProperty("post");
  });
});

describe("brute-force throttling of the secret key", () => {
  const from = (ip: string, key: string) => SELF.fetch(`${TERAPI}/integrations`, { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": ip } });

  it("after 10 wrong keys in a minute a client gets 429 with Retry-After, even with the right key; other clients are not affected", async () => {
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    for (let i = 0; i < 10; i++) expect((await from(ip, `guess-${i}`)).status).toBe(401);
    const blocked = await from(ip, "guess-10");
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBe("60");
    expect(await blocked.json()).toEqual({
      error: { code: "too_many_failed_attempts", message: "Too many failed attempts with a wrong secret key; try again in 60 s" },
    });
    // Guessing on cannot find the key meanwhile: the right one is refused too.
    const right = await from(ip, TEST_SECRET_KEYS[0]);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await from("192.0.2.200", TEST_SECRET_KEYS[0])).status).toBe(200);
    expect((await from("192.0.2.201", "wrong")).status).toBe(401);
  });

  it("only failures count, and a good key never consults the limiter", async () => {
    let calls = 0;
    const limiter = { limit: async (o: { key: string }) => (calls++, env.AUTH_FAILURES.limit(o)) };
    const app = createApp();
    const send = async (key: string) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${TERAPI}/integrations`, { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": "203.0.113.77" } }),
        { ...env, AUTH_FAILURES: limiter },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res.status;
    };
    for (let i = 0; i < 30; i++) expect(await send(TEST_SECRET_KEYS[i % 2])).toBe(200);
    expect(calls).toBe(0);
    expect(await send("wrong")).toBe(401);
    expect(calls).toBe(1);
  });
});
