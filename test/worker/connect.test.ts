import { createExecutionContext, env, runInDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { createApp } from "../../src/app";
import { api, TERAPI } from "../harness/api";
import { simKey } from "../harness/connections";
import { TEST_SECRET_KEYS } from "../harness/constants";
import { beforeAll, describe, expect, it } from "vitest";
import { createConnectSessionStore } from "../../src/connect/session-store";
import { REGISTRY_MIGRATIONS } from "../../src/durable-objects/registry-schema";
import { migrate } from "../../src/durable-objects/schema";
import { hashSessionToken } from "../../src/connect/tokens";
import { registryObject } from "../../src/bindings/stubs";
import { bytesToBase64Url } from "../../src/crypto/base64";

const BAD_KEY = "sk-test-unknown-key-connect-5678";
let pck: string;
let other: string;

type Session = { data: { token: string; connect_link: string; expires_at: string } };

async function newSession(body: Record<string, unknown> = {}) {
  const res = await api<Session>("POST", "/connect/sessions", {
    end_user: { id: "user-7", email: "ada@example.com", display_name: "Ada" },
    allowed_integrations: [pck],
    ...body,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data;
}

/** One browser's cookie per link (the link is bound to the first browser that opens it). */
const jar = new Map<string, string>();

/** Opens the link: a 303 to the clean `/connect` with the session cookie, or the refusal page. */
async function open(token: string, cookie = jar.get(token)): Promise<Response> {
  const res = await SELF.fetch(`${TERAPI}/connect?token=${encodeURIComponent(token)}`, { redirect: "manual", headers: cookie ? { cookie } : {} });
  const set = res.headers.get("set-cookie");
  if (res.status === 303 && set) jar.set(token, set.split(";")[0]);
  return res;
}

/** What the browser shows for the link: the redirect followed with its cookie. */
async function page(token: string): Promise<Response> {
  const opened = await open(token);
  if (opened.status !== 303) return opened;
  return SELF.fetch(`${TERAPI}${opened.headers.get("location")}`, { headers: { cookie: jar.get(token)! } });
}

/** Posts the form from the browser that opened `fields.token` (opening it first if needed). */
async function submit(fields: Record<string, string>): Promise<Response> {
  const { token, ...form } = fields;
  if (!jar.has(token)) {
    const opened = await open(token);
    if (opened.status !== 303) return opened;
  }
  return SELF.fetch(`${TERAPI}/connect`, {
    method: "POST",
    body: new URLSearchParams(form),
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.get(token)! },
  });
}

/** Moves a session's expiry into the past, as 30 minutes passing would. */
async function expire(token: string) {
  const hash = await hashSessionToken(token);
  await runInDurableObject(registryObject(env), (_o, state) => {
    state.storage.sql.exec("UPDATE connect_sessions SET expires_at = ? WHERE token_hash = ?", Date.now() - 1, hash);
  });
}

beforeAll(async () => {
  pck = `connect-${crypto.randomUUID().slice(0, 8)}`;
  other = `${pck}-other`;
  for (const key of [pck, other])
    expect((await api("POST", "/integrations", { unique_key: key, provider: "openai", display_name: `OpenAI (${key})` })).status).toBe(201);
});

describe("POST /connect/sessions", () => {
  it("needs the secret key", async () => {
    const res = await SELF.fetch(`${TERAPI}/connect/sessions`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(401);
  });

  it("returns a 32-byte base64url token, a connect link and a 30-minute expiry; stores only the token's hash", async () => {
    const before = Date.now();
    const s = await newSession();
    expect(s.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new URL(s.connect_link).searchParams.get("token")).toBe(s.token);
    const ttl = Date.parse(s.expires_at) - before;
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000 + 1000);
    const rows = await runInDurableObject(registryObject(env), (_o, state) => state.storage.sql.exec("SELECT * FROM connect_sessions").toArray());
    expect(JSON.stringify(rows)).not.toContain(s.token);
    expect(JSON.stringify(rows)).toContain(await hashSessionToken(s.token));
  });

  it("builds connect_link from TERAPI_PUBLIC_URL, never from the request's Host; unset, only a loopback origin may stand in", async () => {
    const body = JSON.stringify({ end_user: { id: "u-host" }, allowed_integrations: [pck] });
    const headers = { authorization: `Bearer ${TEST_SECRET_KEYS[0]}`, "content-type": "application/json" };
    const spoofed = await SELF.fetch("http://evil.example/connect/sessions", { method: "POST", headers: { ...headers, host: "evil.example" }, body });
    expect(spoofed.status).toBe(201);
    const link = new URL(((await spoofed.json()) as Session).data.connect_link);
    expect(link.origin).toBe("http://terapi.test");
    expect(link.pathname).toBe("/connect");

    const send = async (origin: string, publicUrl: string) => {
      const ctx = createExecutionContext();
      const res = await createApp().fetch(
        new Request(`${origin}/connect/sessions`, { method: "POST", headers, body }),
        { ...env, TERAPI_PUBLIC_URL: publicUrl },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, json: (await res.json()) as Session & { error: { code: string; message: string } } };
    };
    const underPath = await send("http://evil.example", "https://api.example.com/terapi/");
    expect(underPath.json.data.connect_link).toMatch(/^https:\/\/api\.example\.com\/terapi\/connect\?token=[A-Za-z0-9_-]{43}$/);
    const unset = await send("https://terapi.example.com", "");
    expect(unset.status).toBe(500);
    expect(unset.json).toEqual({
      error: { code: "not_configured", message: "TERAPI_PUBLIC_URL is not set: links for end users need this deployment's public URL" },
    });
    for (const local of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) {
      const dev = await send(local, "");
      expect(dev.status).toBe(201);
      expect(new URL(dev.json.data.connect_link).origin).toBe(local);
    }
  });

  it("refuses unknown integrations and a missing end user", async () => {
    expect((await api("POST", "/connect/sessions", { end_user: { id: "u" }, allowed_integrations: ["nope-nope"] })).status).toBe(400);
    expect((await api("POST", "/connect/sessions", { allowed_integrations: [pck] })).status).toBe(400);
  });
});

describe("the connect page", () => {
  it("renders an accessible form with strict headers", async () => {
    const s = await newSession();
    const res = await page(s.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toContain('<label for="api_key">');
    // The token is exchanged for the cookie: it is in neither the page nor the URL the page is on.
    expect(html).not.toContain(s.token);
    expect(html).toContain(`value="${pck}"`);
    // Only the allowed integration is offered.
    expect(html).not.toContain(`value="${other}"`);
  });

  it("re-renders with the provider's reason on a rejected key, never echoing it, and lets the user try again", async () => {
    const s = await newSession();
    const res = await submit({ token: s.token, integration: pck, api_key: BAD_KEY, organization_id: "org-123" });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("Incorrect API key provided");
    expect(html).not.toContain(BAD_KEY);
    expect(html).not.toContain(BAD_KEY.slice(-8));
    expect(html).toMatch(/id="api_key"[^>]*aria-invalid="true"/);
    expect(html).toMatch(/aria-describedby="api_key-error api_key-hint"/);
    expect(html).toContain('value="org-123"');
    expect((await page(s.token)).status).toBe(200);
  });

  it.each([
    ["api_key", { organization_id: "" }, "sk-test-good\r\nX-Injected: 1"],
    ["organization_id", { organization_id: "org-1\r\nX-Injected: 1" }, "sk-test-good"],
    ["project_id", { project_id: "proj\n1" }, "sk-test-good"],
  ])("refuses a line break in %s with a 400 next to that field, sending nothing upstream", async (name, extra, api_key) => {
    const s = await newSession();
    const res = await submit({ token: s.token, integration: pck, api_key, ...extra });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain(`<p class="error" id="${name}-error">Remove the line break or other control character: this must be a single line.</p>`);
    expect(html).toMatch(new RegExp(`id="${name}"[^>]*aria-invalid="true"`));
    expect(html).not.toContain("upstream_unreachable");
    expect(html).not.toContain("Try again in a moment");
    // The link still works.
    expect((await page(s.token)).status).toBe(200);
  });

  it("connects with a good key (the session's end user, a generated id), then refuses the link", async () => {
    const s = await newSession();
    const key = await simKey();
    const res = await submit({ token: s.token, integration: pck, api_key: key });
    const html = await res.text();
    expect(res.status, html).toBe(200);
    expect(html).toContain("Connected");
    expect(html).not.toContain(key);
    const list = await api<{ connections: Array<{ connection_id: string; end_user: unknown }> }>(
      "GET",
      `/connections?provider_config_key=${pck}&end_user_id=user-7`,
    );
    expect(list.body.connections).toHaveLength(1);
    expect(list.body.connections[0].end_user).toEqual({ id: "user-7", email: "ada@example.com", display_name: "Ada" });
    expect(list.body.connections[0].connection_id).toMatch(/^[0-9a-f-]{36}$/);

    const again = await page(s.token);
    expect(again.status).toBe(410);
    expect(await again.text()).toContain("already used");
    const resubmit = await submit({ token: s.token, integration: pck, api_key: key });
    expect(resubmit.status).toBe(410);
    expect((await api<{ connections: unknown[] }>("GET", `/connections?provider_config_key=${pck}&end_user_id=user-7`)).body.connections).toHaveLength(1);
  });

  it("refuses an integration the session does not allow", async () => {
    const s = await newSession();
    const res = await submit({ token: s.token, integration: other, api_key: await simKey() });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Choose one of the integrations listed");
    expect((await api<{ connections: unknown[] }>("GET", `/connections?provider_config_key=${other}`)).body.connections).toHaveLength(0);
  });

  it("refuses an expired link (page and form) with a 410 page", async () => {
    const s = await newSession();
    await expire(s.token);
    const res = await page(s.token);
    expect(res.status).toBe(410);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toContain("expired");
    expect((await submit({ token: s.token, integration: pck, api_key: await simKey() })).status).toBe(410);
  });

  it("exchanges the link's token for an HttpOnly cookie and redirects to a clean URL; the link then works only in that browser", async () => {
    const s = await newSession();
    const first = await open(s.token, "");
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toBe("/connect");
    expect(first.headers.get("cache-control")).toBe("no-store");
    const cookie = first.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(
      new RegExp(`^terapi_connect=${await hashSessionToken(s.token)}\\.[A-Za-z0-9_-]{43}; Max-Age=1800; Path=/connect; HttpOnly; SameSite=Lax$`),
    );
    expect(cookie).not.toContain(s.token);
    const mine = cookie.split(";")[0];
    // The same browser may open its link again; the clean URL needs the cookie.
    expect((await open(s.token, mine)).status).toBe(303);
    expect((await SELF.fetch(`${TERAPI}/connect`, { headers: { cookie: mine } })).status).toBe(200);
    expect((await SELF.fetch(`${TERAPI}/connect`)).status).toBe(400);
    // Anyone else holding the token (a request log, a trace) gets nothing.
    const elsewhere = await open(s.token, "");
    expect(elsewhere.status).toBe(410);
    expect(elsewhere.headers.get("set-cookie")).toBeNull();
    expect(await elsewhere.text()).toContain("already opened in another browser");
    const forgedSecret = mine.replace(/\.[A-Za-z0-9_-]{43}$/, `.${"B".repeat(43)}`);
    expect((await SELF.fetch(`${TERAPI}/connect`, { headers: { cookie: forgedSecret } })).status).toBe(404);
    const post = await SELF.fetch(`${TERAPI}/connect`, {
      method: "POST",
      body: new URLSearchParams({ integration: pck, api_key: await simKey() }),
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: forgedSecret },
    });
    expect(post.status).toBe(404);
  });

  it("refuses forged, malformed and missing tokens", async () => {
    const forged = bytesToBase64Url(crypto.getRandomValues(new Uint8Array(32)));
    for (const t of [forged, "short", "<script>alert(1)</script>"]) {
      const res = await page(t);
      expect(res.status).toBe(404);
      const html = await res.text();
      expect(html).toContain("not valid");
      expect(html).not.toContain("<script>");
    }
    expect((await submit({ token: forged, integration: pck, api_key: await simKey() })).status).toBe(404);
    expect((await SELF.fetch(`${TERAPI}/connect`)).status).toBe(400);
  });
});

describe("Nango's session kinds", () => {
  it("tags alone name the connection (no end user); a reconnect session replaces an existing connection's key", async () => {
    const tag = `ws-${crypto.randomUUID().slice(0, 8)}`;
    const tagged = await api<Session>("POST", "/connect/sessions", { tags: { workspace: tag }, allowed_integrations: [pck] });
    expect(tagged.status).toBe(201);
    expect((await submit({ token: tagged.body.data.token, integration: pck, api_key: await simKey() })).status).toBe(200);
    const list = await api<{ connections: { connection_id: string; end_user: unknown; tags: Record<string, string> }[] }>(
      "GET",
      `/connections?tags[workspace]=${tag}`,
    );
    expect(list.body.connections).toHaveLength(1);
    const conn = list.body.connections[0]!;
    expect(conn).toMatchObject({ end_user: null, tags: { workspace: tag } });

    const reconnect = await api<Session>("POST", "/connect/sessions/reconnect", { connection_id: conn.connection_id, integration_id: pck });
    expect(reconnect.status).toBe(201);
    const newKey = await simKey();
    expect((await submit({ token: reconnect.body.data.token, integration: pck, api_key: newKey })).status).toBe(200);
    const revealed = await api<{ credentials: { apiKey: string } }>("GET", `/connections/${conn.connection_id}?provider_config_key=${pck}&reveal=true`);
    expect(revealed.body.credentials.apiKey).toBe(newKey);
    // Still one connection: replaced, not added.
    expect((await api<{ connections: unknown[] }>("GET", `/connections?tags[workspace]=${tag}`)).body.connections).toHaveLength(1);

    expect((await api("POST", "/connect/sessions/reconnect", { connection_id: "nope", integration_id: pck })).status).toBe(404);
    expect((await api("POST", "/connect/sessions", { allowed_integrations: [pck] })).status).toBe(400);
  });

  it("a registry from before tags and reconnect gains their columns; its sessions read as plain ones", async () => {
    const s = await newSession();
    const hash = await hashSessionToken(s.token);
    const read = await runInDurableObject(registryObject(env), (_o, state) => {
      const sql = state.storage.sql;
      // The table as the first release made it, in a registry from before schema versioning; then it wakes.
      sql.exec("ALTER TABLE connect_sessions DROP COLUMN tags");
      sql.exec("ALTER TABLE connect_sessions DROP COLUMN reconnect");
      sql.exec("DROP TABLE schema_version");
      migrate(state.storage, REGISTRY_MIGRATIONS);
      const store = createConnectSessionStore(sql, (fn) => state.storage.transactionSync(fn));
      const columns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('connect_sessions')")
        .toArray()
        .map((r) => r.name);
      return { columns, lookup: store.open(hash, "browser-1", Date.now()) };
    });
    expect(read.columns).toEqual(expect.arrayContaining(["tags", "reconnect"]));
    expect(read.lookup).toMatchObject({ ok: true, session: { end_user: { id: "user-7" }, tags: null, reconnect: null } });
  });
});
