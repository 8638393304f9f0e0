// Property-based: whatever JSON body or query string the management API is
// given, the answer is a 2xx or a JSON 4xx `{"error":{"code","message"}}`,
// never a 5xx, and /health still answers afterwards. Inputs mix arbitrary
// JSON, near-valid bodies (the schema's own field names with hostile values)
// and raw query strings (bad percent-encoding included), aimed at a real
// integration and connection so the deeper layers (registry, connection
// objects, sync engine) run too.
import { SELF } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { auth, TERAPI } from "../harness/api";
import { createTenant, simKey, type Tenant } from "../harness/connections";

let t: Tenant;

beforeAll(async () => {
  t = await createTenant(await simKey());
});

/** Strings that have broken parsers before, next to anything fast-check makes up. */
const NASTY = [
  "",
  " ",
  ".",
  "..",
  "...",
  "*",
  "-1",
  "0",
  "1e309",
  "NaN",
  "Infinity",
  "9".repeat(30),
  "null",
  "true",
  "[]",
  "{}",
  "\r\n",
  "a\u0000b",
  "%",
  "%zz",
  "%00",
  "%2e%2e",
  "../..",
  "\\",
  "every 99999999999 weeks",
  "every 0s",
  "2025-13-45T99:99:99Z",
  "\ud800",
  "😀",
  "x".repeat(5000),
];

function strings(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...NASTY),
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.constantFrom(t.providerConfigKey, t.connectionId, "files", "batches", "models", "create-embedding", "added,updated,deleted"),
    fc.integer().map(String),
    fc.double().map(String),
  );
}

/** JSON values, including a deep nest now and then. */
function values(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: strings() },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.integer({ min: 33, max: 3000 }).map((depth) => JSON.parse(`${"[".repeat(depth)}${"]".repeat(depth)}`) as unknown) },
    { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, [], {}) },
  );
}

/**
 * An object with the route's fields, each one absent, a good value, or any
 * value (so most requests get past the first check and reach deeper code);
 * or any JSON at all; or text that is not JSON.
 */
function bodies(fields: Record<string, unknown>): fc.Arbitrary<string> {
  const field = (good: unknown) =>
    fc.oneof({ weight: 3, arbitrary: fc.constant(good) }, { weight: 2, arbitrary: values() }, { weight: 1, arbitrary: fc.constant(undefined) });
  const shaped = fc.record(Object.fromEntries(Object.entries(fields).map(([name, good]) => [name, field(good)]))).map((o) => JSON.stringify(o));
  return fc.oneof(
    { weight: 8, arbitrary: shaped },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string() },
  );
}

/** `?a=b&…` from the route's parameters (each absent, good or any) and others, encoded; or a raw string with stray `%` and `&`. */
function queries(params: Record<string, string>): fc.Arbitrary<string> {
  const known = fc
    .record(
      Object.fromEntries(
        Object.entries(params).map(([name, good]) => [
          name,
          fc.oneof(
            { weight: 3, arbitrary: fc.constant<string | undefined>(good) },
            { weight: 2, arbitrary: strings() },
            { weight: 2, arbitrary: fc.constant(undefined) },
          ),
        ]),
      ),
    )
    .map((o) => Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined));
  const pairs = fc
    .tuple(known, fc.array(fc.tuple(fc.string({ maxLength: 8 }), strings()), { maxLength: 2 }))
    .map(([a, b]) => [...a, ...b].map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&"));
  const raw = fc.string({ unit: fc.constantFrom("%", "&", "=", "a", "2", "e", "z", "+", "[", "]", ".", "*") });
  return fc.oneof({ weight: 6, arbitrary: pairs }, { weight: 1, arbitrary: raw }).map((q) => (q ? `?${q}` : ""));
}

/** Percent-encoding of any string (a lone surrogate becomes U+FFFD first: encodeURIComponent refuses it). */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));

type Case = { method: string; path: string; body?: string; headers?: Record<string, string> };

async function send(c: Case): Promise<{ status: number; contentType: string; text: string }> {
  const res = await SELF.fetch(`${TERAPI}${c.path}`, {
    method: c.method,
    headers: { ...auth, ...(c.body === undefined ? {} : { "content-type": "application/json" }), ...c.headers },
    body: c.body,
  });
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", text: await res.text() };
}

/** The property: a 2xx, or a 4xx whose body is terapi's JSON error. */
const succeeded = new Set<string>();
async function answersWell(c: Case): Promise<void> {
  const res = await send(c);
  if (res.status < 300) succeeded.add(`${c.method} ${c.path.split("?")[0].split("/").slice(0, 2).join("/")}`);
  const where = `${c.method} ${c.path.slice(0, 300)} ${c.body?.slice(0, 300) ?? ""} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.contentType, where).toMatch(/^application\/json/);
    const body = JSON.parse(res.text) as { error?: { code?: unknown; message?: unknown } };
    expect(typeof body.error?.code, where).toBe("string");
    expect(typeof body.error?.message, where).toBe("string");
  }
}

const segment = () =>
  strings()
    .filter((s) => s.length > 0)
    .map(enc);
const tenantHeaders = () =>
  fc.record({
    "connection-id": fc.oneof(fc.constant(t.connectionId), strings().map(enc)),
    "provider-config-key": fc.oneof(fc.constant(t.providerConfigKey), strings().map(enc)),
  });

/**
 * Every management route that reads a body or a query, as a generator of
 * requests; and each route's request with every field good, run first (as
 * fast-check examples) whatever the seed: a random run sends a given route
 * an all-good body too rarely to count on it.
 */
function cases(): { arbitrary: fc.Arbitrary<Case>; good: Case[] } {
  const pck = t.providerConfigKey;
  const cid = t.connectionId;
  const target = { provider_config_key: pck, connection_id: cid };
  const good: Case[] = [];
  const send = (method: string, path: string, fields: Record<string, unknown>) => {
    good.push({ method, path, body: JSON.stringify(fields) });
    return bodies(fields).map((body): Case => ({ method, path, body }));
  };
  const ask = (method: string, path: string, params: Record<string, string>) => {
    good.push({ method, path: `${path}?${new URLSearchParams(params)}` });
    return queries(params).map((q): Case => ({ method, path: `${path}${q}` }));
  };
  const id = (good: string) => fc.oneof(fc.constant(good), segment());
  const apiKey = { type: "API_KEY", apiKey: t.apiKey };
  const config = { organization_id: "org-1", project_id: "proj_1", webhook_secret: "whsec_c2VjcmV0LXdlYmhvb2s=" };
  const endUser = { id: "u-prop", email: "prop@example.com" };
  const arbitrary = fc.oneof(
    send("POST", "/integrations", { unique_key: "prop-int", provider: "openai", display_name: "Prop" }),
    fc.tuple(id(pck), bodies({ display_name: "Renamed" })).map(([key, body]): Case => ({ method: "PATCH", path: `/integrations/${key}`, body })),
    ask("DELETE", "/integrations", { unique_key: "prop-int" }),
    send("POST", "/connections", {
      provider_config_key: pck,
      connection_id: "prop-conn",
      credentials: apiKey,
      connection_config: config,
      metadata: { a: 1 },
      end_user: endUser,
      tags: { k: "v" },
    }),
    fc
      .tuple(id(cid), bodies({ provider_config_key: pck, connection_config: config, metadata: { b: 2 }, end_user: endUser, tags: { k: "w" } }))
      .map(([cidOrAny, body]): Case => ({ method: "PATCH", path: `/connections/${cidOrAny}`, body })),
    send("POST", "/connections/metadata", { ...target, metadata: { c: 3 } }),
    send("PATCH", "/connections/metadata", { ...target, metadata: { d: 4 } }),
    ask("GET", "/connections", { provider_config_key: pck, end_user_id: "u-prop", search: "prop", limit: "5", cursor: "abc" }),
    fc.tuple(id(cid), queries({ provider_config_key: pck, reveal: "false" })).map(([c, q]): Case => ({ method: "GET", path: `/connections/${c}${q}` })),
    ask("DELETE", "/connections", { provider_config_key: pck, connection_id: "prop-conn" }),
    send("POST", "/sync/trigger", { syncs: ["files"], ...target, opts: { reset: false } }),
    send("POST", "/sync/pause", { syncs: ["batches"], ...target }),
    send("POST", "/sync/start", { syncs: ["batches"], ...target }),
    ask("GET", "/sync/status", { ...target, syncs: "files,batches" }),
    send("PUT", "/sync/update-connection-frequency", { sync_name: "files", ...target, frequency: "every 2 hours" }),
    fc
      .tuple(
        queries({ model: "files", cursor: "x", limit: "10", modified_after: "2025-01-01T00:00:00Z", filter: "added,updated", ids: "a,b" }),
        tenantHeaders(),
      )
      .map(([q, headers]): Case => ({ method: "GET", path: `/records${q}`, headers })),
    fc
      .tuple(bodies({ action_name: "create-moderation", input: { input: "hello" } }), tenantHeaders())
      .map(([body, headers]): Case => ({ method: "POST", path: "/action/trigger", body, headers })),
    ask("GET", "/actions", { provider_config_key: pck }),
    segment().map((a): Case => ({ method: "GET", path: `/action/${a}` })),
    send("PATCH", "/environment", { webhook_url: null, secondary_webhook_url: null }),
    ask("GET", "/logs", { ...target, type: "proxy", status: "success", limit: "10", cursor: "x" }),
    ask("GET", "/webhook-deliveries", { status: "pending", type: "auth", connection_id: cid, limit: "5", cursor: "12" }),
    segment().map((d): Case => ({ method: "GET", path: `/webhook-deliveries/${d}` })),
    send("POST", "/connect/sessions", { end_user: endUser, allowed_integrations: [pck] }),
  );
  const tenant = { "connection-id": cid, "provider-config-key": pck };
  good.push(
    { method: "PATCH", path: `/integrations/${pck}`, body: JSON.stringify({ display_name: "Renamed" }) },
    { method: "GET", path: `/connections/${cid}?provider_config_key=${pck}&reveal=false` },
    { method: "GET", path: "/records?model=files&limit=10", headers: tenant },
    { method: "POST", path: "/action/trigger", body: JSON.stringify({ action_name: "create-moderation", input: { input: "hello" } }), headers: tenant },
  );
  return { arbitrary, good };
}

describe("management API under generated input", () => {
  it("answers every generated body and query with a 2xx or a JSON 4xx, never a 5xx, and /health still answers", async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    const { arbitrary, good } = cases();
    await fc.assert(fc.asyncProperty(arbitrary, answersWell), { numRuns: 1500, seed, examples: good.map((c): [Case] => [c]) });
    // Not all refused at the door: every route whose all-good request is valid as sent (15: the examples) answered 2xx, so its deeper code ran.
    expect(succeeded.size, `FC_SEED=${seed}: ${[...succeeded].sort().join(", ")}`).toBeGreaterThanOrEqual(15);
    const health = await SELF.fetch(`${TERAPI}/health`);
    expect(health.status).toBe(200);
  });
});
