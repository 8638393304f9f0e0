import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { connectionObject } from "../../src/bindings/stubs";
import { flushOperationLogs } from "../../src/logs/record";
import { costOf, effectivePrices, priceOf } from "../../src/usage/prices";
import { settleUsageReaders } from "../../src/usage/tap";
import type { UsageReport } from "../../src/usage/query";
import { run, trigger } from "../harness/actions";
import { api, auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, simFault, simKey, simRequests, type Tenant } from "../harness/connections";
import { receivedBy, scriptReceiver, setWebhookUrls } from "../harness/webhooks";
import type { JobView } from "../../src/proxy/async";
import type { ActionRunView } from "../../src/actions/job";

/** What the simulator reported, summed per connection and model (the test's own ledger). */
type Sum = { requests: number; input: number; cached: number; output: number; reasoning: number };
type Ledger = Map<string, Map<string, Sum>>;

function add(ledger: Ledger, t: Tenant, model: string, u: Partial<Sum>) {
  let byModel = ledger.get(t.connectionId);
  if (!byModel) ledger.set(t.connectionId, (byModel = new Map()));
  const s = byModel.get(model) ?? { requests: 0, input: 0, cached: 0, output: 0, reasoning: 0 };
  s.requests++;
  s.input += u.input ?? 0;
  s.cached += u.cached ?? 0;
  s.output += u.output ?? 0;
  s.reasoning += u.reasoning ?? 0;
  byModel.set(model, s);
}

type ChatUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
};
type RespUsage = {
  input_tokens: number;
  output_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
};
const fromChat = (u: ChatUsage): Partial<Sum> => ({
  input: u.prompt_tokens,
  cached: u.prompt_tokens_details?.cached_tokens ?? 0,
  output: u.completion_tokens,
  reasoning: u.completion_tokens_details?.reasoning_tokens ?? 0,
});
const fromResponses = (u: RespUsage): Partial<Sum> => ({
  input: u.input_tokens,
  cached: u.input_tokens_details.cached_tokens,
  output: u.output_tokens,
  reasoning: u.output_tokens_details.reasoning_tokens,
});

/** The background readers are done and their samples written (what a real isolate does within ~250 ms). */
async function settle() {
  await settleUsageReaders();
  await flushOperationLogs(env);
}

const usage = async (query: string) => {
  const res = await api<UsageReport>("GET", `/usage?${query}`);
  if (res.status !== 200) throw new Error(`GET /usage?${query}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};
const of = (t: Tenant) => `provider_config_key=${encodeURIComponent(t.providerConfigKey)}&connection_id=${encodeURIComponent(t.connectionId)}`;

/** A mixed workload of JSON, streams of both APIs, embeddings and actions, over three models. */
async function workload(t: Tenant, ledger: Ledger, salt: string) {
  const prompt = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: `Hello from ${salt}` }] };
  for (let i = 0; i < 2; i++) {
    // The second one is served from the (simulated) prompt cache.
    const r = await t.client.chat.completions.create(prompt);
    add(ledger, t, "gpt-4o-mini", fromChat(r.usage as ChatUsage));
  }
  const stream = await t.client.chat.completions.create({
    model: "o4-mini",
    messages: [{ role: "user", content: `Think in a stream, ${salt}` }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed: ChatUsage | null = null;
  for await (const chunk of stream) if (chunk.usage) streamed = chunk.usage as ChatUsage;
  add(ledger, t, "o4-mini", fromChat(streamed!));

  const resp = await t.client.responses.create({ model: "o4-mini", input: `Responses JSON ${salt}` });
  add(ledger, t, "o4-mini", fromResponses(resp.usage as unknown as RespUsage));

  const rstream = await t.client.responses.create({ model: "gpt-4o-mini", input: `Responses stream ${salt}`, stream: true });
  let completed: RespUsage | null = null;
  for await (const ev of rstream) if (ev.type === "response.completed") completed = ev.response.usage as unknown as RespUsage;
  add(ledger, t, "gpt-4o-mini", fromResponses(completed!));

  const emb = await t.client.embeddings.create({ model: "text-embedding-3-small", input: [`embed ${salt}`, "two"] });
  add(ledger, t, "text-embedding-3-small", { input: emb.usage.prompt_tokens });

  const actEmb = await run<{ usage: { prompt_tokens: number } }>(t, "create-embedding", { model: "text-embedding-3-small", input: `action ${salt}` });
  add(ledger, t, "text-embedding-3-small", { input: actEmb.usage.prompt_tokens });
  const actChat = await run<{ usage: ChatUsage }>(t, "create-chat-completion", {
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: `action chat ${salt}` }],
  });
  add(ledger, t, "gpt-4o-mini", fromChat(actChat.usage));

  // Run by the connection's object on its alarm: counted straight into its ledger.
  const job = await asyncProxyJob(t, "/v1/chat/completions", { model: "o4-mini", messages: [{ role: "user", content: `async proxy ${salt}` }] });
  expect(job.response?.status).toBe(200);
  add(ledger, t, "o4-mini", fromChat((JSON.parse(job.response!.body) as { usage: ChatUsage }).usage));
  const actRun = await asyncAction(t, "create-chat-completion", { model: "gpt-4o-mini", messages: [{ role: "user", content: `async action ${salt}` }] });
  expect(actRun.status).toBe("succeeded");
  add(ledger, t, "gpt-4o-mini", fromChat((actRun.output as { usage: ChatUsage }).usage));
}

/** `Async: true` through the proxy; the job once it ended (or was refused). */
async function asyncProxyJob(t: Tenant, path: string, body: unknown): Promise<JobView> {
  const res = await proxyFetch(t, path, { method: "POST", headers: { "content-type": "application/json", async: "true" }, body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  return waitFor(async () => {
    const job = (await api<JobView>("GET", `/proxy/requests/${id}`)).body;
    return job.status === "completed" || job.status === "failed" ? job : undefined;
  }, `async proxy job ${id}`);
}

/** `X-Async: true` action; the run once it ended. */
async function asyncAction(t: Tenant, action: string, input: unknown): Promise<ActionRunView> {
  const res = await trigger(t, action, input, { "X-Async": "true" });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  return waitFor(async () => {
    const r = (await api<ActionRunView>("GET", `/action/${id}/run`)).body;
    return r.status === "succeeded" || r.status === "failed" ? r : undefined;
  }, `async action ${id}`);
}

let a: Tenant;
let b: Tenant;
const ledger: Ledger = new Map();

beforeAll(async () => {
  a = await createTenant(await simKey());
  b = await createTenant(await simKey());
  await workload(a, ledger, "a");
  await workload(b, ledger, "b");
  await workload(a, ledger, "a-again");
  await settle();
}, 60_000);

function expectMatches(report: UsageReport, t: Tenant) {
  const expected = ledger.get(t.connectionId)!;
  const conn = report.connections.find((c) => c.connection_id === t.connectionId)!;
  expect(conn, `no usage for ${t.connectionId}`).toBeTruthy();
  // Sync pages count too, as requests of model `none` (checked below); the ledger holds the model calls.
  const got = Object.fromEntries(
    conn.models
      .filter((m) => m.model !== "none")
      .map((m) => [
        m.model,
        { requests: m.requests, input: m.input_tokens, cached: m.cached_input_tokens, output: m.output_tokens, reasoning: m.reasoning_tokens },
      ]),
  );
  expect(got).toEqual(Object.fromEntries(expected));
  const prices = effectivePrices(null);
  let cost = 0;
  for (const [model, s] of expected)
    cost += costOf(
      {
        requests: 0,
        errors: 0,
        estimated_requests: 0,
        input_tokens: s.input,
        cached_input_tokens: s.cached,
        output_tokens: s.output,
        reasoning_tokens: s.reasoning,
      },
      priceOf(prices, model),
    );
  expect(conn.cost).toBeCloseTo(cost, 12);
  expect(conn.cost).toBeGreaterThan(0);
}

describe("GET /usage", () => {
  it("per connection: exactly the sum of what the simulator reported, per model, cached and reasoning included (async proxy jobs and async actions too)", async () => {
    for (const t of [a, b]) {
      const report = await usage(of(t));
      expect(report.granularity).toBe("day");
      expect(report.price_version).toBe(effectivePrices(null).version);
      expectMatches(report, t);
      // Tagged: six live proxied calls and an async job, two live actions and an async one, per workload.
      const bySource = (s: string) => report.data.filter((d) => d.source === s).reduce((n, d) => n + d.requests, 0);
      const runs = t === a ? 2 : 1;
      expect(bySource("proxy")).toBe(7 * runs);
      expect(bySource("action")).toBe(3 * runs);
      // The first syncs' pages (createTenant waited for them), tagged as such, without tokens.
      const syncs = report.data.filter((d) => d.source === "sync");
      expect(bySource("sync")).toBeGreaterThan(0);
      expect(syncs.every((d) => d.model === "none" && d.input_tokens + d.output_tokens === 0)).toBe(true);
      expect(report.totals.errors).toBe(0);
      expect(report.totals.estimated_requests).toBe(0);
    }
    const sums = [...ledger.get(a.connectionId)!.values()];
    expect(sums.some((s) => s.cached > 0)).toBe(true);
    expect(sums.some((s) => s.reasoning > 0)).toBe(true);
  });

  it("hours of the last 48 h add up to the day", async () => {
    const day = await usage(of(a));
    const hour = await usage(`${of(a)}&granularity=hour`);
    expect(hour.granularity).toBe("hour");
    expect(hour.totals).toEqual(day.totals);
    expect(hour.data.every((d) => Date.parse(d.start) % 3_600_000 === 0)).toBe(true);
  });

  it("environment-wide, from the D1 index the objects copy to: top connections by cost, filters", async () => {
    for (const t of [a, b]) await connectionObject(env, t.providerConfigKey, t.connectionId).flushUsageIndex();
    const all = await usage("");
    expectMatches(all, a);
    expectMatches(all, b);
    const mine = all.connections.filter((c) => c.connection_id === a.connectionId || c.connection_id === b.connectionId);
    // a ran the workload twice: it is first by cost.
    expect(mine.map((c) => c.connection_id)).toEqual([a.connectionId, b.connectionId]);
    const costs = all.connections.map((c) => c.cost);
    expect([...costs].sort((x, y) => y - x)).toEqual(costs);

    const onlyB = await usage(`provider_config_key=${encodeURIComponent(b.providerConfigKey)}`);
    expect(onlyB.connections.map((c) => c.connection_id)).toEqual([b.connectionId]);
    const oneModel = await usage(`provider_config_key=${encodeURIComponent(b.providerConfigKey)}&model=o4-mini`);
    expect(oneModel.connections[0].models.map((m) => m.model)).toEqual(["o4-mini"]);
    expect(oneModel.totals.requests).toBe(ledger.get(b.connectionId)!.get("o4-mini")!.requests);
    // A window before today has nothing.
    const old = await usage(`provider_config_key=${encodeURIComponent(b.providerConfigKey)}&from=2020-01-01&to=2020-02-01`);
    expect(old.data).toEqual([]);
  });

  it("end_user_id: the usage of that end user's connections only", async () => {
    const key = await simKey();
    const endUser = `eu-${crypto.randomUUID().slice(0, 8)}`;
    const pck = `openai-eu-${crypto.randomUUID().slice(0, 8)}`;
    expect((await api("POST", "/integrations", { unique_key: pck, provider: "openai" })).status).toBe(201);
    const ids = ["eu-one", "eu-two", "someone-else"];
    for (const id of ids) {
      const created = await api("POST", "/connections", {
        provider_config_key: pck,
        connection_id: id,
        credentials: { type: "API_KEY", apiKey: key },
        ...(id === "someone-else" ? {} : { end_user: { id: endUser } }),
      });
      expect(created.status).toBe(201);
      const res = await SELF.fetch(`${TERAPI}/proxy/v1/embeddings`, {
        method: "POST",
        headers: { ...auth, "connection-id": id, "provider-config-key": pck, "content-type": "application/json" },
        body: JSON.stringify({ model: "text-embedding-3-small", input: `for ${id}` }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    await settle();
    for (const id of ids) await connectionObject(env, pck, id).flushUsageIndex();
    const report = await usage(`end_user_id=${endUser}&model=text-embedding-3-small`);
    expect(report.connections.map((c) => c.connection_id).sort()).toEqual(["eu-one", "eu-two"]);
    expect(report.totals.requests).toBe(2);
    expect((await usage(`end_user_id=nobody-${endUser}`)).data).toEqual([]);
  });

  it("the object's alarm copies changed days to the index by itself", async () => {
    const t = await createTenant(await simKey());
    await t.client.embeddings.create({ model: "text-embedding-3-small", input: "index me" });
    await settle();
    const stub = connectionObject(env, t.providerConfigKey, t.connectionId);
    const at = await stub.alarmAt();
    expect(at).not.toBeNull();
    expect(at! - Date.now()).toBeLessThanOrEqual(30_000);
    const q = `provider_config_key=${encodeURIComponent(t.providerConfigKey)}`;
    const proxied = async () => (await usage(q)).data.filter((d) => d.source === "proxy");
    expect(await proxied()).toEqual([]);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await proxied()).map((d) => d.requests)).toEqual([1]);
  });

  it("rejects unknown parameters, bad dates, and hours without one connection", async () => {
    expect((await api("GET", "/usage?connection=x")).status).toBe(400);
    const bad = await api<{ error: { code: string } }>("GET", "/usage?from=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_request");
    expect((await api("GET", "/usage?granularity=week")).status).toBe(400);
    expect((await api("GET", "/usage?granularity=hour")).status).toBe(400);
    expect((await api("GET", "/usage?from=2026-02-01&to=2026-01-01")).status).toBe(400);
  });

  it("is documented in /openapi.json", async () => {
    const doc = (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/usage"])).toEqual(["get"]);
    expect(Object.keys(doc.paths["/connections/{connectionId}/usage-cap"]).sort()).toEqual(["delete", "get", "put"]);
  });
});

describe("streams without usage, errors", () => {
  it("a chat stream without include_usage is estimated and marked; a 4xx counts as an error", async () => {
    const t = await createTenant(await simKey());
    const stream = await t.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "estimate me please" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    const bad = await proxyFetch(t, "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [] }),
    });
    expect(bad.status).toBe(400);
    await settle();
    const report = await usage(of(t));
    const proxied = report.data.filter((d) => d.source === "proxy");
    expect(proxied.reduce((n, d) => n + d.requests, 0)).toBe(2);
    expect(report.totals.errors).toBe(1);
    expect(report.totals.estimated_requests).toBe(1);
    const est = report.data.find((d) => d.estimated_requests === 1)!;
    expect(est.model).toBe("gpt-4o-mini");
    expect(est.output_tokens).toBe(Math.ceil(text.length / 4));
    expect(est.input_tokens).toBe(0);
  });
});

describe("errors under the model their request named", () => {
  it("a live proxy error, an async job's and an async action's count under the body's model; a body without one stays `unknown`", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const empty = (model?: string) => JSON.stringify({ ...(model ? { model } : {}), messages: [] });
    const live = await proxyFetch(t, "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: empty("o4-mini-2025-04-16"),
    });
    expect(live.status).toBe(400);
    await live.arrayBuffer();
    const noModel = await proxyFetch(t, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: empty() });
    expect(noModel.status).toBe(400);
    await noModel.arrayBuffer();
    const job = await asyncProxyJob(t, "/v1/chat/completions", { model: "gpt-4o-mini", messages: [] });
    expect(job.response?.status).toBe(400);
    await simFault({ key, count: 1, status: 400, path_prefix: "/v1/embeddings" });
    const actRun = await asyncAction(t, "create-embedding", { model: "text-embedding-3-small", input: "refused" });
    expect(actRun.status).toBe("failed");
    await settle();
    const errors = (await usage(of(t))).data
      .filter((d) => d.errors > 0)
      .map((d) => ({ model: d.model, source: d.source, errors: d.errors, requests: d.requests }))
      .sort((x, y) => x.model.localeCompare(y.model));
    expect(errors).toEqual([
      { model: "gpt-4o-mini", source: "proxy", errors: 1, requests: 1 },
      { model: "o4-mini-2025-04-16", source: "proxy", errors: 1, requests: 1 },
      { model: "text-embedding-3-small", source: "action", errors: 1, requests: 1 },
      { model: "unknown", source: "proxy", errors: 1, requests: 1 },
    ]);
  });
});

describe("a caller that leaves mid-stream", () => {
  it("cancels upstream as before, and the request counts as estimated from what was seen", async () => {
    const t = await createTenant(await simKey());
    const res = await proxyFetch(t, "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", "x-sim-chunk-delay-ms": "200" },
      body: JSON.stringify({
        model: "gpt-4o-mini",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "a long story I will not finish" }],
      }),
    });
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    // The cancel went through the pass-through to upstream: the reading ended early, before the usage chunk.
    await settle();
    const report = await usage(of(t));
    const proxied = report.data.filter((d) => d.source === "proxy");
    expect(proxied).toMatchObject([{ model: "gpt-4o-mini", requests: 1, estimated_requests: 1, input_tokens: 0 }]);
    expect(proxied[0].output_tokens).toBeLessThan(5);
  });
});

describe("prices", () => {
  it("PATCH /environment usage_prices overrides a model's price; the cost names the version", async () => {
    const t = await createTenant(await simKey());
    const r = await t.client.chat.completions.create({ model: "gpt-4o-mini-2024-07-18", messages: [{ role: "user", content: "priced" }] });
    await settle();
    const patched = await api<{ usage_prices: unknown }>("PATCH", "/environment", {
      usage_prices: { version: "acme-2026-12", models: { "gpt-4o-mini": { input: 1, cached_input: 0.5, output: 2 } } },
    });
    expect(patched.status).toBe(200);
    try {
      const report = await usage(of(t));
      expect(report.price_version).toContain("acme-2026-12");
      // The dated model takes its base model's (overridden) price.
      expect(report.totals.cost).toBeCloseTo((r.usage!.prompt_tokens * 1 + r.usage!.completion_tokens * 2) / 1e6, 12);
      expect((await api("PATCH", "/environment", { usage_prices: { version: "x", models: { m: { input: -1, cached_input: 0, output: 0 } } } })).status).toBe(
        400,
      );
    } finally {
      expect((await api("PATCH", "/environment", { usage_prices: null })).status).toBe(200);
    }
  });
});

describe("usage caps", () => {
  it("stops the next request before it reaches the provider, with usage webhooks at 80 % and 100 % once each", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await setWebhookUrls(await scriptReceiver("usage-cap", []));
    const ask = (i: number) => t.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `capped call number ${i}` }] });

    // One call's size, to set a cap that the 3rd call reaches (>= 80 % after the 2nd... see below).
    const first = await ask(0);
    const per = first.usage!.total_tokens;
    await settle();
    const limit = Math.floor(per * 2.5);
    const put = await api<{ cap: unknown; used: number; blocked: boolean }>(
      "PUT",
      `/connections/${t.connectionId}/usage-cap?provider_config_key=${t.providerConfigKey}`,
      { metric: "tokens", period: "day", limit },
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ cap: { metric: "tokens", period: "day", limit }, used: per, blocked: false });

    let used = per;
    let i = 1;
    while (used < limit) {
      const r = await ask(i++);
      used += r.usage!.total_tokens;
      await settle();
    }
    const before = (await simRequests(key)).length;
    const refused = await proxyFetch(t, "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "one more" }] }),
    });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: { code: string; details: { used: number; limit: number } } };
    expect(body.error.code).toBe("usage_cap_reached");
    expect(body.error.details).toMatchObject({ used, limit });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // Again: still refused, and nothing reached the simulator.
    expect((await proxyFetch(t, "/v1/models")).status).toBe(429);
    expect((await simRequests(key)).length).toBe(before);

    const webhooks = await waitFor(async () => {
      const got = (await receivedBy("usage-cap")).map(
        (r) => JSON.parse(r.body) as { type: string; connection_id: string; payload: { threshold: number; used: number } },
      );
      const mine = got.filter((e) => e.type === "usage" && e.connection_id === t.connectionId);
      return mine.length >= 2 ? mine : undefined;
    }, "usage webhooks");
    expect(webhooks.map((w) => w.payload.threshold).sort()).toEqual([100, 80]);

    // Raising the cap lets calls through again (the cached connection is refreshed).
    expect(
      (
        await api("PUT", `/connections/${t.connectionId}/usage-cap?provider_config_key=${t.providerConfigKey}`, {
          metric: "tokens",
          period: "day",
          limit: limit * 10,
        })
      ).status,
    ).toBe(200);
    expect((await ask(99)).usage!.total_tokens).toBeGreaterThan(0);
    await settle();
    // No more webhooks for the same period's thresholds.
    expect((await receivedBy("usage-cap")).filter((r) => r.body.includes('"type":"usage"')).length).toBe(2);
    expect((await api("DELETE", `/connections/${t.connectionId}/usage-cap?provider_config_key=${t.providerConfigKey}`)).body).toMatchObject({ cap: null });
    expect(
      (await api("PUT", `/connections/nope/usage-cap?provider_config_key=${t.providerConfigKey}`, { metric: "tokens", period: "day", limit: 5 })).status,
    ).toBe(404);
    expect(
      (await api("PUT", `/connections/${t.connectionId}/usage-cap?provider_config_key=${t.providerConfigKey}`, { metric: "tokens", period: "week", limit: 5 }))
        .status,
    ).toBe(400);
  });
});

describe("usage caps beyond the live proxy", () => {
  const capPath = (t: Tenant) => `/connections/${t.connectionId}/usage-cap?provider_config_key=${t.providerConfigKey}`;

  it("a capped connection's action is refused with 429 usage_cap_reached before reaching the simulator (live and X-Async)", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const first = await run<{ usage: ChatUsage }>(t, "create-chat-completion", {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "before the cap" }],
    });
    await settle();
    const used = first.usage.prompt_tokens + first.usage.completion_tokens;
    const put = await api<{ blocked: boolean; used: number }>("PUT", capPath(t), { metric: "tokens", period: "day", limit: used });
    expect(put.body).toMatchObject({ blocked: true, used });

    const before = (await simRequests(key)).length;
    const input = { model: "gpt-4o-mini", messages: [{ role: "user", content: "past the cap" }] };
    for (const headers of [{}, { "X-Async": "true" }] as Array<Record<string, string>>) {
      const res = await trigger(t, "create-chat-completion", input, headers);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      const body = (await res.json()) as { error: { code: string; details: { used: number; limit: number } } };
      expect(body.error.code).toBe("usage_cap_reached");
      expect(body.error.details).toMatchObject({ used, limit: used });
    }
    expect((await simRequests(key)).length).toBe(before);
  });

  it("async work queued before the cap was reached ends failed (usage_cap_reached, 429) on the object's alarm without reaching the simulator", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const first = await t.client.embeddings.create({ model: "text-embedding-3-small", input: "before the cap" });
    await settle();
    // The cap lands in the object only: the isolate's cached connection does not know it yet, as for
    // work accepted before the cap was reached (the object is what checks it when the work runs).
    await connectionObject(env, t.providerConfigKey, t.connectionId).setUsageCap({
      metric: "tokens",
      period: "day",
      limit: first.usage.prompt_tokens,
      provider: "openai",
    });
    const before = (await simRequests(key)).length;

    const job = await asyncProxyJob(t, "/v1/embeddings", { model: "text-embedding-3-small", input: "queued" });
    expect(job).toMatchObject({ status: "failed", error: { code: "usage_cap_reached" }, response: null });
    const actRun = await asyncAction(t, "create-embedding", { model: "text-embedding-3-small", input: "queued action" });
    expect(actRun).toMatchObject({ status: "failed", error: { code: "usage_cap_reached", status: 429, details: { limit: first.usage.prompt_tokens } } });
    expect((await simRequests(key)).length).toBe(before);
    // Neither counts as a request: nothing was sent.
    await settle();
    expect((await usage(of(t))).data.filter((d) => d.source !== "sync").reduce((n, d) => n + d.requests, 0)).toBe(1);
  });

  it("the proxy's quick cost check counts with the environment's prices, not the default list", async () => {
    // Steep enough that one call passes a cap the default prices would put at a tiny fraction of it.
    const steep = { version: "steep-test", models: { "gpt-4o-mini": { input: 1000, cached_input: 1000, output: 1000 } } };
    expect((await api("PATCH", "/environment", { usage_prices: steep })).status).toBe(200);
    try {
      const key = await simKey();
      const t = await createTenant(key);
      const limit = 0.001;
      expect((await api("PUT", capPath(t), { metric: "cost", period: "day", limit })).status).toBe(200);
      const r = await t.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "one expensive call" }] });
      const tokens = r.usage!.prompt_tokens + r.usage!.completion_tokens;
      // Default prices: far below 90 % of the cap (the quick check would let the next call through unasked).
      expect(
        costOf(
          {
            requests: 1,
            errors: 0,
            estimated_requests: 0,
            input_tokens: r.usage!.prompt_tokens,
            cached_input_tokens: 0,
            output_tokens: r.usage!.completion_tokens,
            reasoning_tokens: 0,
          },
          priceOf(effectivePrices(null), "gpt-4o-mini"),
        ),
      ).toBeLessThan(0.9 * limit);
      expect((tokens * 1000) / 1e6).toBeGreaterThan(limit);
      await settle();
      const before = (await simRequests(key)).length;
      const next = await proxyFetch(t, "/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "one more" }] }),
      });
      expect(next.status).toBe(429);
      expect(((await next.json()) as { error: { code: string } }).error.code).toBe("usage_cap_reached");
      expect((await simRequests(key)).length).toBe(before);
    } finally {
      expect((await api("PATCH", "/environment", { usage_prices: null })).status).toBe(200);
    }
  });
});

describe("deleting a connection", () => {
  it("removes its rows from the environment's D1 usage index", async () => {
    const t = await createTenant(await simKey());
    await t.client.embeddings.create({ model: "text-embedding-3-small", input: "soon gone" });
    await settle();
    await connectionObject(env, t.providerConfigKey, t.connectionId).flushUsageIndex();
    const rows = () =>
      env.INDEX_DB.prepare("SELECT COUNT(*) AS n FROM usage_daily WHERE provider_config_key = ? AND connection_id = ?")
        .bind(t.providerConfigKey, t.connectionId)
        .first<{ n: number }>("n");
    const inReport = async () =>
      (await usage(`provider_config_key=${encodeURIComponent(t.providerConfigKey)}`)).connections.some((c) => c.connection_id === t.connectionId);
    expect(await rows()).toBeGreaterThan(0);
    expect(await inReport()).toBe(true);

    expect((await api("DELETE", `/connections/${t.connectionId}?provider_config_key=${t.providerConfigKey}`)).status).toBe(204);
    expect(await rows()).toBe(0);
    expect(await inReport()).toBe(false);
  });
});
