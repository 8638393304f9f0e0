import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { formatValue } from "../../src/dashboard/usage-charts";
import { connectionObject } from "../../src/bindings/stubs";
import { flushOperationLogs } from "../../src/logs/record";
import { settleUsageReaders } from "../../src/usage/tap";
import { forgetKeptTop, TOP_CACHE_FROM, TOP_FRESH_MS } from "../../src/dashboard/top-cache";
import { usageSection } from "../../src/dashboard/usage-data";
import { writeIndexBatch } from "../../src/ops-index/write";
import type { IndexRow } from "../../src/usage/store";
import { DAY_MS } from "../../src/usage/store";
import { emptyTotals } from "../../src/usage/types";
import { SECRET } from "../harness/api";
import { createTenant, simKey, type Tenant } from "../harness/connections";

const BASE = "http://terapi.test";

/** One connection's usage days written to the index as the INDEX_QUEUE consumer writes them (src/ops-index/write.ts). */
const writeUsageIndex = (db: D1Database, providerConfigKey: string, connectionId: string, rows: IndexRow[], at = Date.now()) =>
  writeIndexBatch(db, [{ logs: [], deliveries: [], usage: [{ provider_config_key: providerConfigKey, connection_id: connectionId, at, rows }] }]);
let busy: Tenant;
let quiet: Tenant;

beforeAll(async () => {
  busy = await createTenant(await simKey());
  quiet = await createTenant(await simKey());
  for (const model of ["gpt-4o-mini", "o4-mini", "gpt-4o-mini"])
    await busy.client.chat.completions.create({ model, messages: [{ role: "user", content: `chart ${model}` }] });
  await busy.client.embeddings.create({ model: "text-embedding-3-small", input: "chart" });
  await quiet.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "a little" }] });
  await settleUsageReaders();
  await flushOperationLogs(env);
  for (const t of [busy, quiet]) await connectionObject(env, t.providerConfigKey, t.connectionId).flushUsageIndex();
});

describe("dashboard usage charts", () => {
  it("server-rendered SVG per connection (48 h and 30 days, split by model) and the top connections, under the same strict CSP", async () => {
    const res = await SELF.fetch(`${BASE}/dashboard`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toMatch(/script-src [^;]*'self'/);
    const html = await res.text();
    expect(html).not.toContain("<script");
    expect(html).not.toMatch(/\sstyle="/);
    expect(html).toContain('<h2 id="usage">Usage</h2>');

    // The charts are on the connection's own page (the overview asks no connection's object), under the same CSP.
    const href = `/dashboard/connections/${encodeURIComponent(busy.providerConfigKey)}/${encodeURIComponent(busy.connectionId)}`;
    expect(html).toContain(`href="${href}"`);
    const own = await SELF.fetch(`${BASE}${href}`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(own.status).toBe(200);
    expect(own.headers.get("content-security-policy")).toBe(
      csp.replace(/'nonce-[^']+'/, /'nonce-[^']+'/.exec(own.headers.get("content-security-policy") ?? "")?.[0] ?? ""),
    );
    const page = await own.text();
    expect(page).not.toContain("<script");
    expect(page).not.toMatch(/\sstyle="/);

    // The busy connection's six charts, with its three models in the legend and in the bars' titles.
    const section = page.slice(page.indexOf(`<h3 id="usage-`));
    for (const title of ["Requests, 48 h", "Tokens, 48 h", "Cost, 48 h", "Requests, 30 days", "Tokens, 30 days", "Cost, 30 days"])
      expect(section).toContain(title);
    for (const model of ["gpt-4o-mini", "o4-mini", "text-embedding-3-small"]) expect(section).toMatch(new RegExp(`<title>[^<]*${model}: `));
    // Four model calls, plus the first syncs' pages.
    expect(Number(/Requests, 48 h <span class="muted">\((\d+)\)<\/span>/.exec(section)?.[1])).toBeGreaterThanOrEqual(4);

    // Top connections: the busy one above the quiet one.
    const top = html.slice(html.indexOf('aria-label="Top connections by cost'));
    const at = (id: string) => top.indexOf(id);
    expect(at(busy.connectionId)).toBeGreaterThan(0);
    expect(at(quiet.connectionId)).toBeGreaterThan(at(busy.connectionId));
    // Summed and costed inside D1, the same figures GET /usage computes from the same index in the Worker.
    const usage = (await (await SELF.fetch(`${BASE}/usage`, { headers: { authorization: `Bearer ${SECRET}` } })).json()) as {
      connections: Array<{ connection_id: string; requests: number; input_tokens: number; output_tokens: number; cost: number }>;
    };
    for (const t of [busy, quiet]) {
      const c = usage.connections.find((x) => x.connection_id === t.connectionId)!;
      expect(c.cost).toBeGreaterThan(0);
      expect(top).toContain(`${formatValue(c.cost, "cost")} · ${formatValue(c.input_tokens + c.output_tokens, "tokens")} tokens · ${c.requests} req`);
    }
  });
});

describe("the usage index's model list (usage_models)", () => {
  it("holds every model the connections' ledgers hold, with the last day each was used, as usage_daily does", async () => {
    const db = env.INDEX_DB;
    const listed = new Map(
      (await db.prepare("SELECT model, last_day FROM usage_models").all<{ model: string; last_day: number }>()).results.map((r) => [r.model, r.last_day]),
    );
    // The busy connection's own ledger (its object) is the source: each of its models is listed, no earlier than its last day there.
    const ledger = await connectionObject(env, busy.providerConfigKey, busy.connectionId).usageBuckets({ grain: "day", from: 0, to: Date.now() + 86_400_000 });
    expect(ledger.map((r) => r.model)).toEqual(expect.arrayContaining(["gpt-4o-mini", "o4-mini", "text-embedding-3-small"]));
    for (const r of ledger) expect(listed.get(r.model)).toBeGreaterThanOrEqual(r.start);
    // And across the environment: every model a DISTINCT over the day rows would find, no earlier than its last day there
    // (later only when a deleted connection's rows were the latest).
    const days = (await db.prepare("SELECT model, MAX(day) AS day FROM usage_daily GROUP BY model").all<{ model: string; day: number }>()).results;
    expect(days.length).toBeGreaterThan(0);
    for (const d of days) expect(listed.get(d.model)).toBeGreaterThanOrEqual(d.day);
  });
});

describe("the running totals the top connections are ranked from (usage_running)", () => {
  it("give each connection's sums over the last 30 days: what its ledger holds, what summing the day rows gives, days outside left out", async () => {
    const day = Date.now() - (Date.now() % DAY_MS);
    const row = (daysAgo: number, model: string, source: string, t: Partial<ReturnType<typeof emptyTotals>>) => ({
      ...emptyTotals(),
      start: day - daysAgo * DAY_MS,
      model,
      source,
      requests: 1,
      ...t,
      rev: 1,
    });
    // Out of the window (40 days ago), in it (5 days ago, two sources), today; then 5 days ago rewritten (the ledger's absolute sums
    // grow), which moves every later running total.
    await writeUsageIndex(env.INDEX_DB, "openai-rank", "ranked", [
      row(40, "gpt-4o", "proxy", { input_tokens: 9_000_000 }),
      row(5, "gpt-4o", "proxy", { input_tokens: 1_000_000, output_tokens: 100_000 }),
      row(5, "gpt-4o", "sync", { input_tokens: 10 }),
    ]);
    await writeUsageIndex(env.INDEX_DB, "openai-rank", "ranked", [
      row(0, "gpt-4o-mini-2024-07-18", "proxy", { requests: 3, input_tokens: 2_000_000, cached_input_tokens: 500_000, output_tokens: 300_000 }),
    ]);
    await writeUsageIndex(env.INDEX_DB, "openai-rank", "ranked", [row(5, "gpt-4o", "proxy", { requests: 2, input_tokens: 1_500_000, output_tokens: 200_000 })]);

    const { top } = await usageSection(env, Date.now());
    const usage = (await (await SELF.fetch(`${BASE}/usage`, { headers: { authorization: `Bearer ${SECRET}` } })).json()) as {
      connections: Array<{ provider_config_key: string; connection_id: string; requests: number; input_tokens: number; output_tokens: number; cost: number }>;
    };
    // The written connection: only the last 30 days, the rewritten day at its new sums, the dated model at gpt-4o-mini's price.
    const ranked = top.find((t) => t.connection_id === "ranked")!;
    expect(ranked).toMatchObject({ provider_config_key: "openai-rank", requests: 2 + 1 + 3, tokens: 1_500_010 + 200_000 + 2_300_000 });
    const cost = (1_500_010 * 2.5 + 200_000 * 10 + 1_500_000 * 0.15 + 500_000 * 0.075 + 300_000 * 0.6) / 1_000_000;
    expect(ranked.cost).toBeCloseTo(cost, 9);
    // Every ranked connection's sums are what GET /usage sums from the day rows; the busy one's requests are its ledger's.
    for (const t of top) {
      const c = usage.connections.find((x) => x.provider_config_key === t.provider_config_key && x.connection_id === t.connection_id)!;
      expect(t).toMatchObject({ requests: c.requests, tokens: c.input_tokens + c.output_tokens });
      expect(t.cost).toBeCloseTo(c.cost, 9);
    }
    const ledger = await connectionObject(env, busy.providerConfigKey, busy.connectionId).usageBuckets({
      grain: "day",
      from: day - 29 * DAY_MS,
      to: day + DAY_MS,
    });
    expect(top.find((t) => t.connection_id === busy.connectionId)?.requests).toBe(ledger.reduce((n, r) => n + r.requests, 0));
  });
});

describe("the top connections in a large environment", () => {
  it("are ranked once per minute per isolate: reused while fresh, then shown stale while one refresh runs after the response", async () => {
    // Noon of today: the window (and so the cache key) is the same for every `now` below.
    const day = Date.now() - (Date.now() % DAY_MS);
    const now = day + DAY_MS / 2;
    const usage = (tokens: number) => [{ ...emptyTotals(), start: day, model: "gpt-4o", source: "proxy", requests: 1, input_tokens: tokens, rev: 1 }];
    // As many connections with usage as it takes to be cached, through the index's own writer.
    for (let i = 0; i < TOP_CACHE_FROM; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => writeUsageIndex(env.INDEX_DB, "openai-many", `many-${i + j}`, usage(10_000_000 + i + j), now)));
    const later: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void later.push(p);

    const first = await usageSection(env, now, { waitUntil });
    expect(first.top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: `many-${TOP_CACHE_FROM - 1}` });
    // Ranked now, and stored in D1 after the response (the test below reads it from there).
    expect(later).toHaveLength(1);
    await Promise.all(later.splice(0));

    // A new most expensive connection: not shown while the list is fresh.
    await writeUsageIndex(env.INDEX_DB, "openai-many", "many-big", usage(1_000_000_000), now);
    expect((await usageSection(env, now + TOP_FRESH_MS - 1, { waitUntil })).top).toEqual(first.top);
    expect(later).toHaveLength(0);

    // Stale: the old list is shown at once and one refresh is handed to waitUntil (a view meanwhile starts no second one);
    // the view after it has the new ranking.
    // The page says when the list it shows was ranked: the stale one, its first ranking's time.
    expect(first.rankedAt).toBe(now);
    const stale = await usageSection(env, now + TOP_FRESH_MS, { waitUntil });
    expect(stale.top).toEqual(first.top);
    expect(stale.rankedAt).toBe(now);
    await usageSection(env, now + TOP_FRESH_MS + 1, { waitUntil });
    expect(later).toHaveLength(1);
    await Promise.all(later);
    const next = await usageSection(env, now + TOP_FRESH_MS + 2, { waitUntil });
    expect(next.top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: "many-big" });
    expect(next.top.slice(1)).toEqual(first.top.slice(0, -1));
    expect(next.rankedAt).toBe(now + TOP_FRESH_MS);
  });

  it("are stored in D1 for every isolate: a fresh isolate shows the stored list without ranking, a stale one is shown while it is refreshed, none is ranked now", async () => {
    // After the test above's times, on the same day (the same window).
    const day = Date.now() - (Date.now() % DAY_MS);
    const base = day + DAY_MS / 2 + 5 * TOP_FRESH_MS;
    const usage = (tokens: number) => [{ ...emptyTotals(), start: day, model: "gpt-4o", source: "proxy", requests: 1, input_tokens: tokens, rev: 1 }];
    const later: Promise<unknown>[] = [];
    const waitUntil = (p: Promise<unknown>) => void later.push(p);
    const settle = async () => void (await Promise.all(later.splice(0)));
    const stored = async () => {
      const row = await env.INDEX_DB.prepare("SELECT ranked_at, ranked, top FROM usage_top").first<{ ranked_at: number; ranked: number; top: string }>();
      return row && { ranked_at: row.ranked_at, ranked: row.ranked, top: JSON.parse(row.top) as unknown };
    };
    // A fresh isolate (nothing kept here) of a new environment (nothing stored): ranked now, stored after the response.
    await env.INDEX_DB.prepare("DELETE FROM usage_top").run();
    forgetKeptTop();
    const first = await usageSection(env, base, { waitUntil });
    expect(first.top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: "many-big" });
    expect(later).toHaveLength(1);
    await settle();
    const ranked = (await stored())?.ranked ?? 0;
    expect(ranked).toBeGreaterThan(TOP_CACHE_FROM);
    expect(await stored()).toEqual({ ranked_at: base, ranked, top: first.top });

    // Another fresh isolate: the stored list, without ranking (a connection that now costs most is not in it yet), nothing to refresh.
    await writeUsageIndex(env.INDEX_DB, "openai-many", "many-bigger", usage(2_000_000_000), base);
    forgetKeptTop();
    expect((await usageSection(env, base + TOP_FRESH_MS - 1, { waitUntil })).top).toEqual(first.top);
    expect(later).toHaveLength(0);

    // Stale in D1 (a third fresh isolate): shown at once while one refresh after the response ranks and stores the new list ...
    forgetKeptTop();
    expect((await usageSection(env, base + TOP_FRESH_MS, { waitUntil })).top).toEqual(first.top);
    expect(later).toHaveLength(1);
    await settle();
    expect(await stored()).toMatchObject({ ranked_at: base + TOP_FRESH_MS, ranked: ranked + 1 });
    // ... which a fourth shows without ranking again.
    forgetKeptTop();
    const next = await usageSection(env, base + TOP_FRESH_MS + 1, { waitUntil });
    expect(next.top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: "many-bigger" });
    expect(next.top.slice(1)).toEqual(first.top.slice(0, -1));
    expect(later).toHaveLength(0);

    // The stored list's totals are GET /usage's.
    const totals = (await (await SELF.fetch(`${BASE}/usage`, { headers: { authorization: `Bearer ${SECRET}` } })).json()) as {
      connections: Array<{ provider_config_key: string; connection_id: string; requests: number; input_tokens: number; output_tokens: number; cost: number }>;
    };
    for (const t of next.top) {
      const c = totals.connections.find((x) => x.provider_config_key === t.provider_config_key && x.connection_id === t.connection_id)!;
      expect(t).toMatchObject({ requests: c.requests, tokens: c.input_tokens + c.output_tokens });
      expect(t.cost).toBeCloseTo(c.cost, 9);
    }

    // However old (a quiet spell), the window's stored list is shown while one refresh runs; the next view has the new ranking.
    await writeUsageIndex(env.INDEX_DB, "openai-many", "many-biggest", usage(3_000_000_000), base);
    forgetKeptTop();
    const quiet = base + TOP_FRESH_MS + 3 * 60 * TOP_FRESH_MS;
    expect((await usageSection(env, quiet, { waitUntil })).top).toEqual(next.top);
    expect(later).toHaveLength(1);
    await settle();
    expect(await stored()).toMatchObject({ ranked_at: quiet, ranked: ranked + 2 });
    expect((await usageSection(env, quiet + 1, { waitUntil })).top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: "many-biggest" });

    // None for the window (the first view of a day, here: the stored row gone): ranked now.
    await writeUsageIndex(env.INDEX_DB, "openai-many", "many-most", usage(4_000_000_000), base);
    await env.INDEX_DB.prepare("DELETE FROM usage_top").run();
    forgetKeptTop();
    expect((await usageSection(env, quiet + 2, { waitUntil })).top[0]).toMatchObject({ provider_config_key: "openai-many", connection_id: "many-most" });
    await settle();
    expect(await stored()).toMatchObject({ ranked_at: quiet + 2, ranked: ranked + 3 });
  });
});
