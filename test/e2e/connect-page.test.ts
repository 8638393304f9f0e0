// The connect page in a real browser: terapi's deploy bundle on Miniflare
// (served over HTTP), the simulator as OpenAI, Debian's Chromium driven by
// playwright-core. Screenshots of every state go to test-results/.
import { resolve } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newSecrets, type RunningTerapi } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";
import type { ReceivedRequest } from "../harness/receiver.ts";
import { waitFor } from "../harness/wait.ts";
import { type BrowserStack, shots, startBrowserStack } from "./stack.ts";

const RECEIVER_ID = `e2e-connect-${Date.now().toString(36)}`;
const BAD_KEY = "sk-test-unknown-e2e-key-0000abcd";

let stack: BrowserStack;
let terapi: RunningTerapi;
let page: Page;
const secrets = newSecrets();

async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${terapi.origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${secrets.secretKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

async function received(): Promise<ReceivedRequest[]> {
  const res = await fetch(`${inject("receiverUrl")}/__receiver/received?id=${RECEIVER_ID}`);
  return ((await res.json()) as { requests: ReceivedRequest[] }).requests;
}
const shot = (name: string) => page.screenshot({ path: resolve(shots, `connect-${name}.png`), fullPage: true });

beforeAll(async () => {
  stack = await startBrowserStack({ tmpPrefix: "terapi-e2e-", secrets, viewport: { width: 900, height: 900 } });
  ({ terapi, page } = stack);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

describe("connect page in Chromium", () => {
  it("a rejected key shows the provider's reason; a good key connects, tells the backend, and spends the link", async () => {
    expect((await call("POST", "/integrations", { unique_key: "openai", provider: "openai", display_name: "OpenAI" })).status).toBe(201);
    await fetch(`${inject("receiverUrl")}/__receiver/script`, { method: "POST", body: JSON.stringify({ id: RECEIVER_ID, responses: [] }) });
    expect((await call("PATCH", "/environment", { webhook_url: `${inject("receiverUrl")}/${RECEIVER_ID}` })).status).toBe(200);
    const session = await call<{ data: { connect_link: string } }>("POST", "/connect/sessions", {
      end_user: { id: "end-user-1", email: "grace@example.com", display_name: "Grace" },
    });
    expect(session.status).toBe(201);
    const goodKey = (
      (await (await fetch(`${SIMULATOR_URL}/__sim/keys`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).json()) as {
        key: string;
      }
    ).key;

    // 1. The form.
    const first = await page.goto(session.body.data.connect_link);
    expect(first?.status()).toBe(200);
    // The token was traded for a cookie: the page is on the clean URL.
    expect(page.url()).toBe(`${terapi.origin}/connect`);
    await expect.poll(() => page.title()).toBe("Connect your OpenAI account");
    expect(await page.getByRole("radio", { name: "OpenAI" }).isChecked()).toBe(true);
    await shot("form");

    // Keyboard order: the integration, then the key, organization, project, then the button.
    await page.getByRole("radio", { name: "OpenAI" }).focus();
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press("Tab");
      // A string expression: this file is type-checked without the DOM library.
      order.push(await page.evaluate<string>('document.activeElement?.id || document.activeElement?.textContent || ""'));
    }
    expect(order).toEqual(["api_key", "organization_id", "project_id", "Verify and connect"]);

    // 2. A key the provider rejects: its reason, next to an empty key field.
    await page.getByLabel("OpenAI API key").fill(BAD_KEY);
    await page.getByLabel("Organization ID (optional)").fill("org-e2e");
    const rejected = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Verify and connect" }).click()]);
    expect(rejected[0]?.status()).toBe(400);
    // Playwright waits for the re-rendered page's alert itself (expect.poll gave a slow page 1 s).
    await page.getByRole("alert").filter({ hasText: "didn't work" }).waitFor();
    // The reason is the key field's description, so a screen reader reads it with the field.
    const describedBy = (await page.getByLabel("OpenAI API key").getAttribute("aria-describedby")) ?? "";
    expect(await page.locator(`#${describedBy.split(" ")[0]}`).textContent()).toContain("Incorrect API key provided");
    expect(await page.getByLabel("OpenAI API key").inputValue()).toBe("");
    expect(await page.getByLabel("OpenAI API key").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("Organization ID (optional)").inputValue()).toBe("org-e2e");
    expect(await page.content()).not.toContain(BAD_KEY);
    await shot("rejected");

    // 3. A good key.
    await page.getByLabel("OpenAI API key").fill(goodKey);
    await page.getByLabel("Organization ID (optional)").fill("");
    const done = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Verify and connect" }).click()]);
    expect(done[0]?.status()).toBe(200);
    await page.getByRole("heading", { level: 1, name: "Connected", exact: true }).waitFor();
    expect(await page.content()).not.toContain(goodKey);
    await shot("success");

    // 4. The connection exists, for this end user.
    const list = await call<{ connections: Array<{ connection_id: string; end_user: unknown }> }>("GET", "/connections?end_user_id=end-user-1");
    expect(list.body.connections).toHaveLength(1);
    expect(list.body.connections[0].end_user).toEqual({ id: "end-user-1", email: "grace@example.com", display_name: "Grace" });

    // 5. The backend heard about it: key_rejected, then creation.
    const events = await waitFor(
      async () => {
        const reqs = (await received()).map(
          (r) => JSON.parse(r.body) as { type: string; operation?: string; connectionId?: string; payload?: { operation?: string } },
        );
        return reqs.length >= 2 ? reqs : undefined;
      },
      "auth webhooks",
      10_000,
      100,
    );
    const text = JSON.stringify(events);
    expect(text).toContain("key_rejected");
    expect(text).toContain("creation");
    expect(text).toContain(list.body.connections[0].connection_id);
    expect(text).not.toContain(goodKey);
    expect(text).not.toContain(BAD_KEY);

    // 6. The link is spent.
    const again = await page.goto(session.body.data.connect_link);
    expect(again?.status()).toBe(410);
    await page.getByRole("heading", { level: 1, name: "Link already used", exact: true }).waitFor();
    await shot("used");

    // 7. A forged link.
    const forged = new URL(session.body.data.connect_link);
    forged.searchParams.set("token", "A".repeat(43));
    expect((await page.goto(forged.toString()))?.status()).toBe(404);
    await shot("forged");
  });
});
