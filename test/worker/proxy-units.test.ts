import { describe, expect, it } from "vitest";
import { openai } from "../../src/providers/openai";
import { createConnectionCache } from "../../src/connections/cache";
import { authHeadersFor, callerResponse, callerResponseHeaders, upstreamRequestHeaders } from "../../src/proxy/headers";
import { confinePath, rawPathAndQuery, upstreamUrl } from "../../src/proxy/path";
import type { ConnectionSecret } from "../../src/store/connection-secret";

const secret = (over: Partial<ConnectionSecret["config"]> = {}): ConnectionSecret => ({
  providerConfigKey: "openai",
  connectionId: "c1",
  provider: "openai",
  credentials: { type: "API_KEY", apiKey: "sk-tenant" },
  config: { organization_id: "org-1", ...over },
});

describe("path confinement", () => {
  it.each(["/v1/models", "/v1/files/file-abc/content", "/v1/chat/completions", "/v1/a%20b", "/v1/models/ft:gpt-4o:org:x"])("keeps %s", (p) => {
    expect(confinePath(p)).toBe(p);
  });
  it.each([
    "//evil.test/v1",
    "/http://evil.test/v1",
    "/https:%2f%2fevil.test",
    "/v1/../admin",
    "/v1/./models",
    "/v1/%2e%2e/admin",
    "/v1/%2E%2E/admin",
    "/v1/.%2e/admin",
    "/v1%2fadmin",
    "/v1/%5c..",
    "/v1\\..\\admin",
    "/v1/%252e%252e/admin",
    "/v1/%00",
  ])("refuses %s", (p) => {
    expect(() => confinePath(p)).toThrow(expect.objectContaining({ code: "invalid_path", status: 400 }));
  });
  it("splits raw path and query without decoding", () => {
    expect(rawPathAndQuery("http://t/proxy/v1/a%2Fb?x=1&y=%20")).toEqual({ path: "/proxy/v1/a%2Fb", query: "?x=1&y=%20" });
    expect(upstreamUrl("http://sim:1", "/v1/models", "?limit=2")).toBe("http://sim:1/v1/models?limit=2");
  });
});

describe("headers", () => {
  it("fills the auth template and drops empty values", () => {
    expect(authHeadersFor(openai, secret())).toEqual({ authorization: "Bearer sk-tenant", "openai-organization": "org-1" });
  });
  it("strips terapi's own and hop-by-hop headers; the caller can never set the auth headers", () => {
    const incoming = new Headers({
      authorization: "Bearer terapi-secret",
      "connection-id": "c1",
      "provider-config-key": "openai",
      retries: "3",
      "retry-on": "429",
      async: "true",
      cookie: "a=b",
      host: "terapi.test",
      "accept-encoding": "gzip",
      connection: "keep-alive, x-private",
      "x-private": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-type": "application/json",
      "openai-beta": "assistants=v2",
      "openai-project": "proj-caller",
      "terapi-proxy-authorization": "Bearer stolen",
      "terapi-proxy-openai-organization": "org-evil",
      "terapi-proxy-x-custom": "yes",
    });
    const out = upstreamRequestHeaders(incoming, authHeadersFor(openai, secret()), openai);
    expect(Object.fromEntries(out)).toEqual({
      authorization: "Bearer sk-tenant",
      "openai-organization": "org-1",
      "content-type": "application/json",
      "openai-beta": "assistants=v2",
      "x-custom": "yes",
    });
  });
  it("passes response headers through, minus hop-by-hop", () => {
    const out = callerResponseHeaders(
      new Headers({ "x-request-id": "req_1", "x-ratelimit-remaining-requests": "4", connection: "close", "content-type": "text/event-stream" }),
    );
    expect(Object.fromEntries(out)).toEqual({ "x-request-id": "req_1", "x-ratelimit-remaining-requests": "4", "content-type": "text/event-stream" });
  });
  it("makes the caller's Response with exactly the headers callerResponseHeaders keeps, status and body as given", async () => {
    const cases: Record<string, string>[] = [
      { "x-request-id": "req_1", "content-type": "application/json", "content-length": "2" },
      { "x-request-id": "req_1", connection: "keep-alive", "keep-alive": "timeout=5", "content-length": "2", date: "Tue, 01 Dec 2026 20:00:00 GMT" },
      { connection: "X-Hop-Secret, close", "x-hop-secret": "1", "x-end-to-end": "kept", trailer: "x", upgrade: "h2c", te: "trailers" },
      { "content-encoding": "gzip", "content-length": "99", "content-type": "application/json", "proxy-authenticate": "Basic" },
    ];
    for (const headers of cases) {
      const upstream = new Response("{}", { status: 201, statusText: "Created", headers });
      const out = callerResponse(upstream, new TextEncoder().encode("[1]"));
      expect(Object.fromEntries(out.headers)).toEqual(Object.fromEntries(callerResponseHeaders(upstream.headers)));
      expect([out.status, out.statusText, await out.text()]).toEqual([201, "Created", "[1]"]);
    }
  });
});

describe("connection cache", () => {
  it("hands out a fresh settled answer without a promise (cached), nothing once it expired or was evicted", async () => {
    let t = 0;
    const found = secret();
    const cache = createConnectionCache(async (_env, _p, id) => (id === "missing" ? null : found), { ttlMs: 100, missTtlMs: 10, now: () => t });
    const env = {} as Env;
    expect(cache.cached("openai", "c1")).toBeUndefined();
    await cache.get(env, "openai", "c1");
    await cache.get(env, "openai", "missing");
    expect(cache.cached("openai", "c1")).toBe(found);
    expect(cache.cached("openai", "missing")).toBeNull();
    t = 11;
    expect(cache.cached("openai", "missing")).toBeUndefined();
    cache.evict("openai", "c1");
    expect(cache.cached("openai", "c1")).toBeUndefined();
  });
  it("never shares a load in progress, expires, remembers misses briefly, evicts, stays bounded", async () => {
    let t = 0;
    let loads = 0;
    const found = secret();
    const cache = createConnectionCache(
      async (_env, _p, id) => {
        loads++;
        return id === "missing" ? null : found;
      },
      { ttlMs: 100, missTtlMs: 10, maxEntries: 2, now: () => t },
    );
    const env = {} as Env;
    // Concurrent misses each load (a load in progress belongs to its own request); the settled value is shared.
    await Promise.all([cache.get(env, "openai", "c1"), cache.get(env, "openai", "c1")]);
    expect(loads).toBe(2);
    t = 50;
    await cache.get(env, "openai", "c1");
    expect(loads).toBe(2);
    t = 101;
    await cache.get(env, "openai", "c1");
    expect(loads).toBe(3);
    expect(await cache.get(env, "openai", "missing")).toBeNull();
    await cache.get(env, "openai", "missing");
    expect(loads).toBe(4);
    t = 112;
    await cache.get(env, "openai", "missing");
    expect(loads).toBe(5);
    cache.evict("openai", "c1");
    await cache.get(env, "openai", "c1");
    expect(loads).toBe(6);
    await cache.get(env, "openai", "c3"); // 7: "missing" (oldest) falls out
    await cache.get(env, "openai", "c4"); // 8: c1 falls out
    await cache.get(env, "openai", "c1");
    expect(loads).toBe(9);
  });

  it("a load that was in flight when the connection was evicted does not write back what it read", async () => {
    let release: (v: ConnectionSecret | null) => void = () => {};
    let loads = 0;
    const cache = createConnectionCache(() => {
      loads++;
      return loads === 1 ? new Promise((r) => (release = r)) : Promise.resolve(secret({ organization_id: "org-new" }));
    });
    const env = {} as Env;
    const stale = cache.get(env, "openai", "c1");
    cache.evict("openai", "c1"); // e.g. the key was rotated meanwhile
    release(secret());
    expect((await stale)?.config.organization_id).toBe("org-1");
    expect((await cache.get(env, "openai", "c1"))?.config.organization_id).toBe("org-new");
    expect(loads).toBe(2);
  });
});
