import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { SECRET } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, simKey, type Tenant } from "../harness/connections";
import { drainIndex } from "../harness/webhooks";

const BASE = "http://terapi.test";
let tenant: Tenant;

const get = (headers: Record<string, string> = {}, path = "/dashboard") => SELF.fetch(`${BASE}${path}`, { headers, redirect: "manual" });
const login = (key: string) =>
  SELF.fetch(`${BASE}/dashboard/login`, {
    method: "POST",
    body: new URLSearchParams({ secret_key: key }),
    headers: { "content-type": "application/x-www-form-urlencoded" },
    redirect: "manual",
  });

beforeAll(async () => {
  tenant = await createTenant(await simKey());
  expect((await proxyFetch(tenant, "/v1/models")).status).toBe(200);
});

describe("/dashboard", () => {
  it("sends strangers to the login form", async () => {
    const res = await get();
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/dashboard/login");
    expect((await get({ authorization: "Bearer nope" })).status).toBe(303);
    const form = await SELF.fetch(`${BASE}/dashboard/login`);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('<label for="secret_key">');
  });

  it("shows connections, their rate-limit state and the latest operations with the secret key as Bearer", async () => {
    const html = await waitFor(async () => {
      // The latest operations come from the environment-wide index: bring it up to date (driven, not waited for).
      await drainIndex();
      const res = await get({ authorization: `Bearer ${SECRET}` });
      expect(res.status).toBe(200);
      const text = await res.text();
      return text.includes("/v1/models") ? text : undefined;
    }, "the proxy call in the log");
    expect(html).toContain(tenant.connectionId);
    expect(html).not.toContain(tenant.apiKey);
    expect(html).not.toContain(SECRET);
    // The overview asks no connection's object: the rate-limit state is on the connection's own page, linked from it.
    const href = `/dashboard/connections/${encodeURIComponent(tenant.providerConfigKey)}/${encodeURIComponent(tenant.connectionId)}`;
    expect(html).toContain(`href="${href}"`);
    expect(html).not.toMatch(/\d+ \/ \d+ left/);
    const res = await get({ authorization: `Bearer ${SECRET}` }, href);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(tenant.connectionId);
    expect(page).toMatch(/\d+ \/ \d+ left/);
    // One line per limit bucket (here the endpoint the connection's check and syncs used).
    expect(page).toMatch(/<code>\/v1\/models<\/code> requests/);
    // Its own log (the connection's object, not the index): the proxied call.
    expect(page).toContain("/v1/models");
    expect(page).not.toContain(tenant.apiKey);
    expect(page).not.toContain(SECRET);
  });

  it("a connection's page: the login form for strangers, a 404 page for an unknown connection", async () => {
    const href = `/dashboard/connections/${encodeURIComponent(tenant.providerConfigKey)}/${encodeURIComponent(tenant.connectionId)}`;
    const stranger = await get({}, href);
    expect(stranger.status).toBe(303);
    expect(stranger.headers.get("location")).toBe("/dashboard/login");
    const missing = await get(
      { authorization: `Bearer ${SECRET}` },
      `/dashboard/connections/${encodeURIComponent(tenant.providerConfigKey)}/no-such-connection`,
    );
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/text\/html/);
    expect(await missing.text()).toContain("No connection &#39;no-such-connection&#39;");
  });

  it("logs in with a form that sets a strict HttpOnly cookie (not the key), and logs out", async () => {
    expect((await login("wrong-key")).status).toBe(401);
    const res = await login(SECRET);
    expect(res.status).toBe(303);
    const setCookie = res.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/Secure/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toContain(SECRET);
    const cookie = setCookie.split(";")[0];
    const page = await get({ cookie });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Log out");
    const [name, value] = cookie.split("=");
    const forged = `${name}=${value.slice(0, -2)}${value.endsWith("AA") ? "BB" : "AA"}`;
    expect((await get({ cookie: forged })).status).toBe(303);
    const out = await SELF.fetch(`${BASE}/dashboard/logout`, { method: "POST", headers: { cookie }, redirect: "manual" });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/Max-Age=0/i);
  });

  it("logging out revokes the session server-side: the old cookie is refused afterwards, another session stays", async () => {
    const cookieOf = async () => ((await login(SECRET)).headers.get("set-cookie") ?? "").split(";")[0];
    const [kept, ended] = [await cookieOf(), await cookieOf()];
    expect((await get({ cookie: ended })).status).toBe(200);
    const out = await SELF.fetch(`${BASE}/dashboard/logout`, { method: "POST", headers: { cookie: ended }, redirect: "manual" });
    expect(out.status).toBe(303);
    // A copy of the cookie kept by anyone (the browser ignoring Max-Age=0, a stolen copy) no longer works.
    const after = await get({ cookie: ended });
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toBe("/dashboard/login");
    expect((await get({ cookie: kept })).status).toBe(200);
  });

  it("throttles failed logins per client: after 10 a 429 page with Retry-After, even for the right key", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const loginFrom = (key: string) =>
      SELF.fetch(`${BASE}/dashboard/login`, {
        method: "POST",
        body: new URLSearchParams({ secret_key: key }),
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        redirect: "manual",
      });
    for (let i = 0; i < 10; i++) expect((await loginFrom(`guess-${i}`)).status).toBe(401);
    const blocked = await loginFrom("guess-10");
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBe("60");
    expect(blocked.headers.get("content-type")).toMatch(/text\/html/);
    expect(await blocked.text()).toContain("Too many failed attempts with a wrong secret key");
    const right = await loginFrom(SECRET);
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
  });
});
