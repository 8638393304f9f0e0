import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { connectionObject } from "../../src/bindings/stubs";
import { flushOperationLogs, toLogEntry } from "../../src/logs/record";
import type { LogQuery, OperationLog } from "../../src/logs/types";
import { feedIndex, FLUSH_AFTER_MS, flushIndexFeed, routeIndexFeed } from "../../src/ops-index/feed";
import { writeIndexBatch } from "../../src/ops-index/write";
import { indexLogsQuery } from "../../src/ops-index/read";
import type { IndexMessage } from "../../src/ops-index/messages";
import { api } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, simKey } from "../harness/connections";
import { drainIndex } from "../harness/webhooks";

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
    const messages: IndexMessage[] = Array.from({ length: 100 }, (_, m) => ({
      logs: Array.from({ length: 100 }, (_, i) =>
        toLogEntry({
          provider_config_key: `full-${run}`,
          connection_id: `c${m}`,
          type: "proxy",
          status: "success",
          duration_ms: 1,
          started_at: at + m * 100 + i,
        }),
      ),
      deliveries: [],
    }));
    const result = await consume(messages);
    expect(result.ackAll).toBe(true);
    const page = await logs(`provider_config_key=full-${run}&limit=500`);
    expect(page.logs).toHaveLength(500);
    expect(Date.parse(page.logs[0].created_at)).toBe(at + 99 * 100 + 99);
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
