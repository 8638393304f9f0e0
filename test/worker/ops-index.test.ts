import { createExecutionContext, createMessageBatch, env, getQueueResult, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { connectionObject } from "../../src/bindings/stubs";
import { flushOperationLogs, toLogEntry } from "../../src/logs/record";
import type { LogQuery, OperationLog } from "../../src/logs/types";
import { feedIndex, FLUSH_AFTER_MS, flushIndexFeed, routeIndexFeed } from "../../src/ops-index/feed";
import { ROWS_PER_SLICE, writeIndexBatch } from "../../src/ops-index/write";
import { indexLogsQuery } from "../../src/ops-index/read";
import type { IndexMessage } from "../../src/ops-index/messages";
import { api } from "../harness/api";
import { settleUsageReaders } from "../../src/usage/tap";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, simKey } from "../harness/connections";
import { drainIndex } from "../harness/webhooks";
import { MAX_INDEX_ROWS } from "../../src/usage/query";

type Page = { logs: OperationLog[]; next_cursor: string | null };
const logs = async (query: string) => {
  const res = await api<Page>("GET", `/logs?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};

/** The feed's flushes while `fn` runs (its own timer's included), as the queue would carry them: nothing reaches D1. */
async function feedMessages(fn: () => Promise<void>): Promise<IndexMessage[]> {
  const out: IndexMessage[] = [];
  const capture = async (messages: IndexMessage[]) => void out.push(...messages);
  routeIndexFeed(capture);
  try {
    await fn();
    await flushOperationLogs(env);
    await flushIndexFeed(capture);
  } finally {
    routeIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));
  }
  return out;
}

/** One queue batch through the Worker's own `queue` handler (the INDEX_QUEUE consumer). */
async function consume(messages: IndexMessage[]) {
  const batch = createMessageBatch<IndexMessage>(
    "terapi-index",
    messages.map((body, i) => ({ id: `msg-${i}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

/** `count` queue messages of 100 proxied lines each, message m for connection `c<m>`, line i of it started at `at + m * 100 + i`. */
const proxyLineMessages = (providerConfigKey: string, count: number, at: number): IndexMessage[] =>
  Array.from({ length: count }, (_, m) => ({
    logs: Array.from({ length: 100 }, (_, i) =>
      toLogEntry({
        provider_config_key: providerConfigKey,
        connection_id: `c${m}`,
        type: "proxy",
        status: "success",
        duration_ms: 1,
        started_at: at + m * 100 + i,
      }),
    ),
    deliveries: [],
  }));

describe("the environment-wide index of operations", () => {
  it("has a proxied call's line in GET /logs without a connection after one feed flush and one consumer batch", async () => {
    // The bound the README states: a line waits at most FLUSH_AFTER_MS in the feed, then up to the queue's
    // max_batch_timeout (1 s, wrangler.toml) for its batch, then one D1 write.
    expect(FLUSH_AFTER_MS).toBeLessThanOrEqual(1_000);
    const t = await createTenant(await simKey());
    await drainIndex();
    const messages = await feedMessages(async () => {
      expect((await proxyFetch(t, "/v1/models")).status).toBe(200);
    });
    expect((await logs(`connection_id=${t.connectionId}&type=proxy`)).logs).toEqual([]);
    const lines = messages.flatMap((m) => m.logs);
    expect(lines.some((l) => l.connection_id === t.connectionId && l.type === "proxy")).toBe(true);

    const result = await consume(messages);
    expect(result.ackAll).toBe(true);
    expect(result.retryBatch.retry).toBe(false);
    const page = await logs(`type=proxy&limit=500`);
    const line = page.logs.find((l) => l.connection_id === t.connectionId);
    expect(line).toMatchObject({ type: "proxy", status: "success", method: "GET", path: "/v1/models", http_status: 200 });
    // The same line as the connection's own log (the source of truth).
    const own = await logs(`provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&type=proxy`);
    expect(own.logs.map((l) => l.id)).toContain(line?.id);
    // A message delivered twice (at least once) changes nothing.
    expect((await consume(messages)).ackAll).toBe(true);
    expect((await logs(`connection_id=${t.connectionId}&type=proxy`)).logs.filter((l) => l.id === line?.id)).toHaveLength(1);
  });

  it("answers across 150 connections (no fan-out limit) with every filter, keyset-paged without gaps or repeats", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const pcks = [`ia-${run}`, `ib-${run}`];
    const base = Date.now() - 60_000;
    const written: Array<{ pck: string; conn: string; type: "proxy" | "sync"; status: "success" | "failure"; http: number; at: number }> = [];
    await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const pck = pcks[i % 2];
        const conn = `c${i}-${run}`;
        const entries = [0, 1].map((k) => {
          const line = {
            pck,
            conn,
            type: k === 0 ? ("proxy" as const) : ("sync" as const),
            status: i % 5 === 0 ? ("failure" as const) : ("success" as const),
            http: i % 5 === 0 ? 429 : 200,
            at: base + i * 10 + k,
          };
          written.push(line);
          return toLogEntry({
            provider_config_key: pck,
            connection_id: conn,
            type: line.type,
            status: line.status,
            http_status: line.http,
            duration_ms: 1,
            started_at: line.at,
          });
        });
        // The path record.ts takes: one RPC per connection's object to store the lines, then the index feed.
        await connectionObject(env, pck, conn).appendLogs(entries);
        await feedIndex(
          env,
          entries.map((log) => ({ log })),
        );
      }),
    );
    await drainIndex();

    const mine = (l: OperationLog) => l.provider_config_key.endsWith(run);
    const all = async (query: string, limit: number) => {
      const seen: OperationLog[] = [];
      let cursor: string | null = null;
      do {
        const page: Page = await logs(`${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
        seen.push(...page.logs);
        cursor = page.next_cursor;
      } while (cursor);
      return seen;
    };
    const expected = (f: (w: (typeof written)[number]) => boolean) =>
      written
        .filter(f)
        .sort((a, b) => b.at - a.at)
        .map((w) => `${w.conn}@${w.at}`);
    const got = (ls: OperationLog[]) => ls.filter(mine).map((l) => `${l.connection_id}@${Date.parse(l.created_at)}`);

    // No filter at all: every line of this run, newest first, in pages of 7.
    expect(got(await all("type=proxy", 7))).toEqual(expected((w) => w.type === "proxy"));
    expect(got(await all(`provider_config_key=${pcks[1]}`, 13))).toEqual(expected((w) => w.pck === pcks[1]));
    expect(got(await all(`provider_config_key=${pcks[0]}&status=failure`, 5))).toEqual(expected((w) => w.pck === pcks[0] && w.status === "failure"));
    expect(got(await all(`provider_config_key=${pcks[0]}&status=429&type=sync`, 4))).toEqual(
      expected((w) => w.pck === pcks[0] && w.http === 429 && w.type === "sync"),
    );
    expect(got(await all(`connection_id=c7-${run}`, 1))).toEqual(expected((w) => w.conn === `c7-${run}`));
    expect((await api("GET", "/logs?cursor=garbage")).status).toBe(400);
  });

  it("walks the index of the most selective filter given, so a filtered page does not scan other connections' lines", async () => {
    const plan = async (scope: { provider_config_key?: string; connection_id?: string }, q: LogQuery) => {
      const { sql, args } = indexLogsQuery(scope, q, Date.now());
      const { results } = await env.INDEX_DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...args)
        .all<{ detail: string }>();
      return results.map((r) => r.detail).join("; ");
    };
    const before = { at: Date.now(), id: "op_z" };
    // Connection and type: the connection's index, not type's (which holds every connection's proxied lines).
    expect(await plan({ connection_id: "c1" }, { type: "proxy", status: "success", limit: 51 })).toMatch(
      /SEARCH operations USING INDEX operations_conn_at \(connection_id=\? AND/,
    );
    expect(await plan({ provider_config_key: "p", connection_id: "c1" }, { type: "sync", limit: 5, before })).toMatch(/USING INDEX operations_conn_at/);
    expect(await plan({ provider_config_key: "p" }, { type: "proxy", http_status: 429, limit: 5 })).toMatch(
      /USING INDEX operations_pck_at \(provider_config_key=\? AND/,
    );
    expect(await plan({}, { type: "proxy", limit: 5, before })).toMatch(/USING INDEX operations_type_at \(type=\? AND at>\? AND \(at,id\)<\(\?,\?\)\)/);
    expect(await plan({}, { status: "failure", limit: 5 })).toMatch(/USING INDEX operations_at \(at>\?\)/);
    // Never a sort step: every index ends in (at, id), the page's order.
    expect(await plan({ connection_id: "c1" }, { limit: 5 })).not.toMatch(/TEMP B-TREE/);
  });

  it("keeps the newest state of a delivery when states arrive out of order, and retries a batch it could not write", async () => {
    const id = `whd_${"0".repeat(64)}_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`;
    const state = (status: string, rev: number) => ({
      id,
      event_id: "evt_x",
      type: "sync",
      connection_id: `ooo-${id.slice(-6)}`,
      provider_config_key: "openai",
      endpoint: "primary",
      url: "http://127.0.0.1:1/x",
      status,
      attempt_count: rev,
      next_attempt_at: null,
      deadline_at: Date.now() + 1000,
      created_at: Date.now(),
      updated_at: Date.now() + rev,
      last_status_code: null,
      last_error: null,
      rev,
    });
    expect((await consume([{ logs: [], deliveries: [state("delivered", 2)] }])).ackAll).toBe(true);
    expect((await consume([{ logs: [], deliveries: [state("pending", 1)] }])).ackAll).toBe(true);
    const listed = await api<{ data: Array<{ id: string; status: string }> }>("GET", `/webhook-deliveries?connection_id=ooo-${id.slice(-6)}`);
    expect(listed.body.data).toEqual([expect.objectContaining({ id, status: "delivered" })]);

    // A state D1 refuses (NOT NULL): the whole batch is retried, nothing acknowledged.
    const broken = { ...state("failed", 3), status: null } as unknown as IndexMessage["deliveries"][number];
    const result = await consume([{ logs: [], deliveries: [broken] }]);
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(true);
  });

  it("writes a full queue batch (100 messages of 100 lines) in one go", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const at = Date.now() - 30_000;
    const messages = proxyLineMessages(`full-${run}`, 100, at);
    const result = await consume(messages);
    expect(result.ackAll).toBe(true);
    const page = await logs(`provider_config_key=full-${run}&limit=500`);
    expect(page.logs).toHaveLength(500);
    expect(Date.parse(page.logs[0].created_at)).toBe(at + 99 * 100 + 99);
  });

  it("writes a full queue batch in transactions of at most ROWS_PER_SLICE rows, one after the other", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const at = Date.now() - 20_000;
    const messages = proxyLineMessages(`slice-${run}`, 30, at);
    // The real D1, watched: how many rows each call's statements carry (one JSON array bound per statement).
    const calls: number[] = [];
    let open = 0;
    let overlapped = false;
    const watched = new Proxy(env.INDEX_DB, {
      get(target, key) {
        if (key === "batch")
          return async (statements: D1PreparedStatement[]) => {
            overlapped ||= open > 0;
            open++;
            calls.push(statements.length);
            try {
              return await target.batch(statements);
            } finally {
              open--;
            }
          };
        const value = Reflect.get(target, key) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    // The isolate's periodic prune (every 10 min, its own slices) is not this batch's: run it first if it is due.
    await writeIndexBatch(env.INDEX_DB, [], at);
    await writeIndexBatch(watched, messages, at);
    // 3,000 lines at 250 a statement, ROWS_PER_SLICE (500) a call: six calls of two statements, never two at once.
    expect(ROWS_PER_SLICE).toBe(500);
    expect(calls).toEqual([2, 2, 2, 2, 2, 2]);
    expect(overlapped).toBe(false);
    expect((await logs(`provider_config_key=slice-${run}&limit=500`)).logs).toHaveLength(500);
    const { n } = (await env.INDEX_DB.prepare("SELECT COUNT(*) AS n FROM operations WHERE provider_config_key = ?")
      .bind(`slice-${run}`)
      .first<{ n: number }>())!;
    expect(n).toBe(3_000);
  });

  it("writes the usage days of many connections from one queue batch, with their running totals, and ignores an older state arriving late", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const pck = `usage-${run}`;
    const DAY = 86_400_000;
    const today = Date.now() - (Date.now() % DAY);
    const totals = (requests: number, input: number) => ({
      requests,
      errors: 0,
      estimated_requests: 0,
      input_tokens: input,
      cached_input_tokens: 0,
      output_tokens: 1,
      reasoning_tokens: 0,
    });
    const day = (daysAgo: number, model: string, requests: number, input: number, rev = 1) => ({
      start: today - daysAgo * DAY,
      model,
      source: "proxy",
      rev,
      ...totals(requests, input),
    });
    const at = Date.now();
    // 150 connections, each two days of one model and today of another: the batch is 150 messages as objects send them.
    const messages: IndexMessage[] = Array.from({ length: 150 }, (_, i) => ({
      logs: [],
      deliveries: [],
      usage: [
        { provider_config_key: pck, connection_id: `u${i}`, at, rows: [day(2, "gpt-4o", 1, 100 + i), day(0, "gpt-4o", 2, 10), day(0, "gpt-4o-mini", 5, 7)] },
      ],
    }));
    expect((await consume(messages)).ackAll).toBe(true);
    const count = async (table: string) =>
      (await env.INDEX_DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE provider_config_key = ?`).bind(pck).first<{ n: number }>())!.n;
    expect([await count("usage_daily"), await count("usage_running"), await count("usage_series")]).toEqual([450, 450, 300]);
    const series = await env.INDEX_DB.prepare("SELECT * FROM usage_series WHERE provider_config_key = ? AND connection_id = 'u7' ORDER BY model")
      .bind(pck)
      .all();
    expect(series.results).toEqual([
      expect.objectContaining({ model: "gpt-4o", first_day: today - 2 * DAY, last_day: today, requests: 3, input_tokens: 117 }),
      expect.objectContaining({ model: "gpt-4o-mini", first_day: today, last_day: today, requests: 5, input_tokens: 7 }),
    ]);
    // GET /usage (the environment index) sums them.
    const usage = await api<{ totals: { requests: number } }>("GET", `/usage?provider_config_key=${pck}`);
    expect(usage.body.totals.requests).toBe(150 * 8);

    // A newer state of u7's today, then the older one redelivered late: the newer stays, totals follow it.
    const newer = { provider_config_key: pck, connection_id: "u7", at: at + 1_000, rows: [day(0, "gpt-4o", 9, 10, 2)] };
    const older = { provider_config_key: pck, connection_id: "u7", at, rows: [day(0, "gpt-4o", 2, 10)] };
    expect((await consume([{ logs: [], deliveries: [], usage: [newer] }])).ackAll).toBe(true);
    expect((await consume([{ logs: [], deliveries: [], usage: [older] }])).ackAll).toBe(true);
    const after = await env.INDEX_DB.prepare("SELECT requests FROM usage_series WHERE provider_config_key = ? AND connection_id = 'u7' AND model = 'gpt-4o'")
      .bind(pck)
      .first<{ requests: number }>();
    expect(after?.requests).toBe(1 + 9);
  });

  it("GET /usage refuses, with a clear error, an environment-wide read of more day rows than one answer carries, and answers it narrowed", async () => {
    const pck = `usage-many-${crypto.randomUUID().slice(0, 8)}`;
    const DAY = 86_400_000;
    // Days of January 2001: no other test's window (the last 30 days by default) sees them.
    const first = Date.UTC(2001, 0, 1);
    const window = `from=2001-01-01&to=2001-01-31`;
    const models = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"];
    const at = Date.now();
    // 223 connections × 30 days × 3 models: just over MAX_INDEX_ROWS day rows in the window.
    const connections = Math.ceil((MAX_INDEX_ROWS + 1) / (30 * models.length));
    const messages: IndexMessage[] = Array.from({ length: connections }, (_, i) => ({
      logs: [],
      deliveries: [],
      usage: [
        {
          provider_config_key: pck,
          connection_id: `m${i}`,
          at,
          rows: models.flatMap((model) =>
            Array.from({ length: 30 }, (_, d) => ({
              start: first + d * DAY,
              model,
              source: "proxy",
              rev: 1,
              requests: 1,
              errors: 0,
              estimated_requests: 0,
              input_tokens: 10,
              cached_input_tokens: 0,
              output_tokens: 1,
              reasoning_tokens: 0,
            })),
          ),
        },
      ],
    }));
    expect((await consume(messages)).ackAll).toBe(true);
    const all = await api<{ error: { code: string; message: string } }>("GET", `/usage?provider_config_key=${pck}&${window}`);
    expect(all.status).toBe(400);
    expect(all.body.error.code).toBe("too_many_rows");
    expect(all.body.error.message).toContain("narrow with");
    // Narrowed to one model: a third of the rows, answered whole.
    const one = await api<{ totals: { requests: number }; data: unknown[] }>("GET", `/usage?provider_config_key=${pck}&model=gpt-4o&${window}`);
    expect(one.status).toBe(200);
    expect(one.body.data).toHaveLength(connections * 30);
    expect(one.body.totals.requests).toBe(connections * 30);
    // The index is shared by every test file of this worker: these rows go.
    await env.INDEX_DB.batch(
      ["usage_daily", "usage_running", "usage_series"].map((t) => env.INDEX_DB.prepare(`DELETE FROM ${t} WHERE provider_config_key = ?`).bind(pck)),
    );
  });

  it("a usage state a connection sent before it was deleted, consumed after the delete, does not bring its rows back; a new connection under the same id counts", async () => {
    const t = await createTenant(await simKey());
    const DAY = 86_400_000;
    const today = Date.now() - (Date.now() % DAY);
    const state = (at: number, requests: number): IndexMessage => ({
      logs: [],
      deliveries: [],
      usage: [
        {
          provider_config_key: t.providerConfigKey,
          connection_id: t.connectionId,
          at,
          rows: [
            {
              start: today,
              model: "gpt-4o",
              source: "proxy",
              rev: 1,
              requests,
              errors: 0,
              estimated_requests: 0,
              input_tokens: 10 * requests,
              cached_input_tokens: 0,
              output_tokens: requests,
              reasoning_tokens: 0,
            },
          ],
        },
      ],
    });
    const indexed = async () =>
      // This test's own rows (the connection's syncs count too, under their own source).
      (
        await env.INDEX_DB.prepare("SELECT requests FROM usage_daily WHERE provider_config_key = ? AND connection_id = ? AND source = 'proxy'")
          .bind(t.providerConfigKey, t.connectionId)
          .all<{ requests: number }>()
      ).results.map((r) => r.requests);
    const sentAt = Date.now();
    expect((await consume([state(sentAt, 3)])).ackAll).toBe(true);
    expect(await indexed()).toEqual([3]);
    // Deleted: its rows go. Then a later state it had sent before the delete (still in the queue) arrives.
    expect((await api("DELETE", `/connections/${t.connectionId}?provider_config_key=${t.providerConfigKey}`)).status).toBe(204);
    expect(await indexed()).toEqual([]);
    expect((await consume([state(sentAt + 1, 4)])).ackAll).toBe(true);
    expect(await indexed()).toEqual([]);
    const usage = await api<{ totals: { requests: number } }>("GET", `/usage?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}`);
    expect(usage.status).toBe(200);
    expect(usage.body.totals.requests).toBe(0);
    // The same id created again: what it sends from now on is counted.
    expect((await consume([state(Date.now() + 1_000, 2)])).ackAll).toBe(true);
    expect(await indexed()).toEqual([2]);
  });

  it("a connection object's usage reaches the index through the queue: its alarm sends the changed days, the consumer writes them", async () => {
    routeIndexFeed(null);
    try {
      const t = await createTenant(await simKey());
      await t.client.embeddings.create({ model: "text-embedding-3-small", input: "index me" });
      await settleUsageReaders();
      await flushOperationLogs(env);
      const stub = connectionObject(env, t.providerConfigKey, t.connectionId);
      const proxied = async () =>
        (await api<{ data: Array<{ source: string; requests: number }> }>("GET", `/usage?provider_config_key=${t.providerConfigKey}`)).body.data.filter(
          (d) => d.source === "proxy",
        );
      expect(await proxied()).toEqual([]);
      // The object's alarm (its copy is due 30 s after the change), run now: it sends the days to the real queue.
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      // The queue delivers its batch when its max_batch_timeout says: poll the environment index for the day row.
      await waitFor(async () => {
        const rows = await proxied();
        return rows.length === 1 && rows[0]?.requests === 1;
      }, "the day row through the queue");
    } finally {
      routeIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));
    }
  });

  it("goes through the real INDEX_QUEUE and its consumer (Miniflare's queue, its own batching)", async () => {
    routeIndexFeed(null);
    try {
      const t = await createTenant(await simKey());
      expect((await proxyFetch(t, "/v1/models")).status).toBe(200);
      await flushOperationLogs(env);
      // The queue delivers the batch when its max_batch_timeout says: poll the environment-wide query for it.
      await waitFor(async () => (await logs(`connection_id=${t.connectionId}&type=proxy`)).logs.length > 0, "the line through the queue");
    } finally {
      routeIndexFeed((messages) => writeIndexBatch(env.INDEX_DB, messages));
    }
  });
});
