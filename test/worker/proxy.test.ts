import { toFile } from "openai";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { SELF, env } from "cloudflare:test";
import { auth, SECRET, TERAPI } from "../harness/api";
import { createTenant, proxyFetch, SELF_URL, sha256Hex, simKey, simRequests, type Tenant } from "../harness/connections";

let t: Tenant;
let key: string;

beforeAll(async () => {
  key = await simKey();
  t = await createTenant(key, { organization_id: "org-tenant", project_id: "proj-tenant" });
});

async function lastRequest(path: string) {
  const log = await simRequests(key);
  const hits = log.filter((r) => r.path === path);
  return hits[hits.length - 1];
}

describe("proxy pass-through", () => {
  it("chat completion JSON: the tenant key and org/project reach the provider, never the secret key", async () => {
    const raw = await t.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(raw.data.object).toBe("chat.completion");
    expect(raw.data.choices[0].message.content).toBeTruthy();
    expect(raw.response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(raw.response.headers.get("x-ratelimit-limit-requests")).toBeTruthy();
    expect(raw.response.headers.get("x-ratelimit-remaining-requests")).toBeTruthy();
    const sent = await lastRequest("/v1/chat/completions");
    expect(sent.headers.authorization).toBe(`Bearer ${key}`);
    expect(sent.headers["openai-organization"]).toBe("org-tenant");
    expect(sent.headers["openai-project"]).toBe("proj-tenant");
    expect(JSON.stringify(sent.headers)).not.toContain(SECRET);
    for (const own of ["connection-id", "provider-config-key", "cookie", "host-override"]) expect(sent.headers[own]).toBeUndefined();
  });

  it("streams chat completion chunks as the provider sends them, not at the end", async () => {
    const stream = await t.client.chat.completions.create(
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "tell me a story" }], stream: true },
      { headers: { "x-sim-chunk-delay-ms": "60" } },
    );
    const arrivals: number[] = [];
    let text = "";
    for await (const chunk of stream) {
      arrivals.push(Date.now());
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    expect(text.length).toBeGreaterThan(0);
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
    const spread = arrivals[arrivals.length - 1] - arrivals[0];
    // Chunks were sent 60 ms apart: they must arrive spread out the same way.
    expect(spread).toBeGreaterThanOrEqual(60 * (arrivals.length - 2));
    const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]);
    expect(gaps.filter((g) => g >= 30).length).toBeGreaterThanOrEqual(Math.floor(gaps.length / 2));
  });

  it("streams a Responses API stream", async () => {
    const stream = await t.client.responses.create({ model: "gpt-4o-mini", input: "hello", stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types[0]).toBe("response.created");
    expect(types).toContain("response.output_text.delta");
    expect(types[types.length - 1]).toBe("response.completed");
  });

  it("embeddings", async () => {
    const res = await t.client.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0].embedding.length).toBeGreaterThan(0);
  });

  it("a 5 MB upload arrives byte for byte, and downloads byte for byte", async () => {
    const bytes = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
    const file = await t.client.files.create({ file: await toFile(bytes, "data.jsonl"), purpose: "assistants" });
    expect(file.bytes).toBe(bytes.length);
    const sent = await lastRequest("/v1/files");
    expect(sent.body_size).toBeGreaterThan(bytes.length);
    const content = await t.client.files.content(file.id);
    const back = new Uint8Array(await content.arrayBuffer());
    expect(back.length).toBe(bytes.length);
    expect(await sha256Hex(back)).toBe(await sha256Hex(bytes));
  });

  it("a raw binary body is forwarded byte for byte (sha256 in the provider's log)", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(60_000));
    const res = await proxyFetch(t, "/v1/embeddings?x=1&y=%20z", { method: "POST", headers: { "content-type": "application/octet-stream" }, body: bytes });
    expect(res.status).toBe(400);
    const sent = await lastRequest("/v1/embeddings");
    expect(sent.body_sha256).toBe(await sha256Hex(bytes));
    expect(sent.query).toContain("x=1&y=%20z");
  });

  it("Terapi-Proxy-<Name> forwards as <Name>, never over the provider auth headers", async () => {
    const res = await proxyFetch(t, "/v1/models", {
      headers: { "terapi-proxy-x-custom": "yes", "terapi-proxy-authorization": "Bearer stolen", "openai-organization": "org-evil", cookie: "s=1" },
    });
    expect(res.status).toBe(200);
    const sent = await lastRequest("/v1/models");
    expect(sent.headers["x-custom"]).toBe("yes");
    expect(sent.headers.authorization).toBe(`Bearer ${key}`);
    expect(sent.headers["openai-organization"]).toBe("org-tenant");
    expect(sent.headers.cookie).toBeUndefined();
  });

  it("headers the caller's Connection header names are not forwarded (workerd hands the Worker that header), the others are", async () => {
    const res = await proxyFetch(t, "/v1/models", {
      headers: { connection: "X-Hop-Secret, keep-alive", "x-hop-secret": "1", "keep-alive": "timeout=5", "x-end-to-end": "kept" },
    });
    expect(res.status).toBe(200);
    const sent = await lastRequest("/v1/models");
    expect(sent.headers["x-end-to-end"]).toBe("kept");
    expect(sent.headers["x-hop-secret"]).toBeUndefined();
    expect(sent.headers["keep-alive"]).toBeUndefined();
    expect(sent.headers.connection ?? "keep-alive").not.toMatch(/x-hop-secret/i);
  });

  it("provider errors keep their status and body", async () => {
    const res = await proxyFetch(t, "/v1/no-such-thing");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error" } });
  });
});

describe("proxy refusals", () => {
  it("needs the connection headers and a known connection", async () => {
    const none = await SELF_URL("/proxy/v1/models", { authorization: `Bearer ${SECRET}` });
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ error: { code: "missing_connection_headers" } });
    const unknown = await SELF_URL("/proxy/v1/models", {
      authorization: `Bearer ${SECRET}`,
      "connection-id": "nope",
      "provider-config-key": t.providerConfigKey,
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "unknown_connection" } });
  });

  it("a re-keyed connection uses its new key at once, and a deleted one stops at once", async () => {
    const oldKey = await simKey();
    const tenant = await createTenant(oldKey);
    expect((await proxyFetch(tenant, "/v1/models")).status).toBe(200); // now cached in this isolate
    const newKey = await simKey();
    const manage = (method: string, body?: unknown) =>
      SELF.fetch(`${TERAPI}/connections/${tenant.connectionId}?provider_config_key=${tenant.providerConfigKey}`, {
        method,
        headers: { ...auth, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await manage("PATCH", { provider_config_key: tenant.providerConfigKey, credentials: { type: "API_KEY", apiKey: newKey } })).status).toBe(200);
    expect((await proxyFetch(tenant, "/v1/models")).status).toBe(200);
    const byNew = (await simRequests(newKey)).filter((r) => r.path === "/v1/models" && r.headers.authorization === `Bearer ${newKey}`);
    expect(byNew.length).toBeGreaterThanOrEqual(2); // the re-verification, then the proxied call
    const oldCalls = (await simRequests(oldKey)).length;

    expect((await manage("DELETE")).status).toBe(204);
    const gone = await proxyFetch(tenant, "/v1/models");
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: "unknown_connection" } });
    expect((await simRequests(oldKey)).length).toBe(oldCalls);
  });

  it("TRACE is a 405 and never leaves terapi", async () => {
    const before = (await simRequests(key)).length;
    const res = await proxyFetch(t, "/v1/models", { method: "TRACE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    expect(await res.json()).toEqual({ error: { code: "method_not_allowed", message: "TRACE is never proxied" } });
    expect((await simRequests(key)).length).toBe(before);
  });

  it("needs the secret key", async () => {
    const res = await SELF_URL("/proxy/v1/models", t.headers);
    expect(res.status).toBe(401);
  });

  it.each([
    "//evil.test/v1/models",
    "/http://evil.test/v1/models",
    "/https:%2F%2Fevil.test/v1/models",
    "/v1/%2e%2e/%2e%2e/admin",
    "/v1/..%2f..%2fadmin",
    "/v1/%252e%252e/admin",
    "/v1/models%5c..%5cadmin",
    "/v1/a/%2E%2E%2F/b",
  ])("path escape %s: 400 and nothing upstream", async (path) => {
    const before = (await simRequests(key)).length;
    const res = await proxyFetch(t, path);
    // The URL parser may already resolve plain dot segments before terapi sees them;
    // either way nothing may leave the provider's base URL.
    expect([400, 404]).toContain(res.status);
    if (res.status === 400) expect(await res.json()).toMatchObject({ error: { code: "invalid_path" } });
    expect((await simRequests(key)).length).toBe(before);
  });

  it("plain `..` is resolved by the URL parser before terapi: it never reaches the provider", async () => {
    const before = (await simRequests(key)).length;
    const res = await proxyFetch(t, "/v1/../../integrations");
    // It lands on terapi's own /integrations (secret key required), not upstream.
    expect(res.headers.get("x-request-id")).toBeNull();
    expect((await simRequests(key)).length).toBe(before);
  });
});

describe("proxy under concurrent load", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("requests that cross a connection-cache refresh together all succeed, even when the request that started the reload is cancelled mid-load", async () => {
    const tenant = await createTenant(await simKey());
    expect((await proxyFetch(tenant, "/v1/models")).status).toBe(200); // cached from here on
    // The isolate's clock (the same one the Worker reads), moved past the cache's 15 s TTL.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 16_000);
    // The first KV read after the expiry is the reload of the first request: its caller hangs up while it is in flight.
    const caller = new AbortController();
    const kv = env.SECRETS as { get: (...args: unknown[]) => Promise<unknown> };
    const realGet = kv.get.bind(kv);
    let reads = 0;
    vi.spyOn(kv, "get").mockImplementation((...args: unknown[]) => {
      if (reads++ > 0) return realGet(...args);
      caller.abort();
      return new Promise((resolve) => setTimeout(resolve, 50)).then(() => realGet(...args));
    });
    // A request whose continuation was cancelled with another request never answers: a verdict instead of a hung test.
    const answer = (p: Promise<Response>) =>
      Promise.race([
        p.then(async (r) => `${r.status}${r.status === 200 ? "" : ` ${(await r.text()).slice(0, 120)}`}`),
        new Promise<string>((resolve) => setTimeout(() => resolve("no answer"), 10_000)),
      ]);
    const first = proxyFetch(tenant, "/v1/models", { signal: caller.signal }).catch(() => null);
    const others = await Promise.all(Array.from({ length: 8 }, () => answer(proxyFetch(tenant, "/v1/models"))));
    await first;
    expect(others).toEqual(others.map(() => "200"));
    expect(reads).toBeGreaterThan(1); // the others read the connection themselves
  });
});

describe("proxy documentation", () => {
  it("/openapi.json documents the proxy and the async status route", async () => {
    const doc = (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths["/proxy/{path}"]).sort()).toEqual(["delete", "get", "patch", "post", "put"]);
    const headers = doc.paths["/proxy/{path}"].post.parameters!.filter((p) => p.in === "header").map((p) => p.name);
    expect(headers).toEqual(expect.arrayContaining(["connection-id", "provider-config-key", "retries", "async"]));
    expect(doc.paths["/proxy/requests/{id}"]).toHaveProperty("get");
    expect(doc.components.schemas).toHaveProperty("ProxyJob");
  });
});
