// The dashboard's usage charts in a real browser: terapi's deploy bundle on
// Miniflare (its D1 index included), the simulator as OpenAI, Chromium driven
// by playwright-core. Screenshots go to test-results/.
import { resolve } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSecrets, type RunningTerapi } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";
import { waitFor } from "../harness/wait.ts";
import { type BrowserStack, shots, startBrowserStack } from "./stack.ts";

let stack: BrowserStack;
let terapi: RunningTerapi;
let page: Page;
const secrets = newSecrets();

async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(`${terapi.origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${secrets.secretKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed as T, text };
}

beforeAll(async () => {
  stack = await startBrowserStack({ tmpPrefix: "terapi-e2e-usage-", secrets, viewport: { width: 1280, height: 900 } });
  ({ terapi, page } = stack);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

describe("usage charts in Chromium", () => {
  it("the top connections on the overview, and per connection (48 h, 30 days, by model) on its own page, with no CSP violation", async () => {
    expect((await call("POST", "/integrations", { unique_key: "openai", provider: "openai" })).status).toBe(201);
    const tenants = ["acme-corp", "globex", "initech"];
    for (const id of tenants) {
      const key = (
        (await (await fetch(`${SIMULATOR_URL}/__sim/keys`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).json()) as {
          key: string;
        }
      ).key;
      const r = await call("POST", "/connections", { provider_config_key: "openai", connection_id: id, credentials: { type: "API_KEY", apiKey: key } });
      expect(r.status, r.text).toBe(201);
    }
    const proxy = (id: string, path: string, body: unknown) => call("POST", `/proxy${path}`, body, { "connection-id": id, "provider-config-key": "openai" });
    // Different amounts per tenant and model, so the charts have something to split.
    const plan: Array<[string, number]> = [
      ["acme-corp", 6],
      ["globex", 3],
      ["initech", 1],
    ];
    for (const [id, n] of plan) {
      for (let i = 0; i < n; i++) {
        expect(
          (await proxy(id, "/v1/chat/completions", { model: "gpt-4o-mini", messages: [{ role: "user", content: `${id} question ${i} `.repeat(20) }] })).status,
        ).toBe(200);
        if (i % 2 === 0)
          expect((await proxy(id, "/v1/responses", { model: "o4-mini", input: `${id} reasoning ${i} `.repeat(30), stream: true })).status).toBe(200);
        if (i % 3 === 0) expect((await proxy(id, "/v1/embeddings", { model: "text-embedding-3-small", input: `${id} ${i}`.repeat(50) })).status).toBe(200);
      }
    }
    // The environment index holds all three once their objects copied their days (on their alarm, half a
    // minute after a change): polls the real system. Their proxied calls, not only their first sync pages
    // (indexed first, on the objects' earlier alarm).
    await waitFor(
      async () => {
        const u = await call<{ connections: Array<{ connection_id: string; models: Array<{ model: string }> }> }>("GET", "/usage");
        const complete = u.body.connections.filter((c) => c.models.some((m) => m.model.startsWith("gpt-4o-mini")));
        return complete.length === 3 ? u : undefined;
      },
      "the usage index",
      90_000,
      500,
    ).catch(async (err: Error) => {
      const one = await call("GET", "/usage?provider_config_key=openai&connection_id=acme-corp");
      throw new Error(
        `${err.message}; acme-corp's own usage: ${one.text.slice(0, 400)}; env-wide: ${(await call("GET", "/usage")).text.slice(0, 300)}; logs:\n${terapi.tail()}`,
      );
    });

    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${terapi.origin}/dashboard/login`);
    await page.getByLabel("Secret key").fill(secrets.secretKey);
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log in" }).click()]);
    await expect.poll(() => page.title()).toBe("terapi dashboard");

    const usage = page.locator("#usage");
    await usage.scrollIntoViewIfNeeded();
    const topChart = page.getByRole("img", { name: "Top connections by cost over the last 30 days" });
    expect(await topChart.isVisible()).toBe(true);
    const topText = (await topChart.textContent()) ?? "";
    expect(topText.indexOf("acme-corp")).toBeLessThan(topText.indexOf("globex"));
    expect(topText.indexOf("globex")).toBeLessThan(topText.indexOf("initech"));

    await page.screenshot({ path: resolve(shots, "dashboard-usage.png"), fullPage: true });
    await topChart.screenshot({ path: resolve(shots, "dashboard-usage-top.png") });

    // Each connection's charts are on its own page, one click from the overview's top list.
    await Promise.all([page.waitForNavigation(), page.locator("#top-connections ~ p a", { hasText: "acme-corp" }).click()]);
    await expect.poll(() => page.title()).toContain("acme-corp");
    const acme = page.locator("section", { has: page.locator("h3 code", { hasText: "acme-corp" }) });
    expect(await acme.getByRole("img").count()).toBe(6);
    for (const model of ["gpt-4o-mini", "o4-mini", "text-embedding-3-small"])
      expect(await acme.getByRole("list", { name: "Models" }).textContent()).toContain(model);
    // Bars have a size: the SVG was laid out, not blocked.
    const box = await acme.locator("figure.chart svg rect").first().boundingBox();
    expect(box?.height ?? 0).toBeGreaterThan(0);
    expect(violations).toEqual([]);

    await page.screenshot({ path: resolve(shots, "dashboard-connection.png"), fullPage: true });
    await acme.screenshot({ path: resolve(shots, "dashboard-usage-connection.png") });
  });
});
