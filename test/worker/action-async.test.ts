import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ActionRunView } from "../../src/actions/job";
import { connectionObject } from "../../src/bindings/stubs";
import { quietTenant, trigger } from "../harness/actions";
import { api, auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, oneBudget, proxyFetch, simFault, simKey, simRequests, type Tenant } from "../harness/connections";
import { crashMidCall } from "../harness/crash";
import { receivedBy, scriptReceiver, setWebhookUrls } from "../harness/webhooks";

const ASYNC = { "X-Async": "true" };

async function enqueue(t: Tenant, action: string, input: unknown, headers: Record<string, string> = {}) {
  const res = await trigger(t, action, input, { ...ASYNC, ...headers });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string; statusUrl: string };
}

/** The whole run (terapi's view, next to Nango's result at the status URL itself). */
async function getRun(statusUrl: string): Promise<ActionRunView> {
  const res = await SELF.fetch(`${TERAPI}${statusUrl}/run`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as ActionRunView;
}

const until = (statusUrl: string, ok: (r: ActionRunView) => boolean, what: string) =>
  waitFor(async () => {
    const r = await getRun(statusUrl);
    return ok(r) ? r : undefined;
  }, what);

afterEach(() => {
  vi.useRealTimers();
});

describe("X-Async: true", () => {
  it("202 {id, statusUrl}; the run succeeds on the object's alarm with the output, and an async_action event goes out", async () => {
    const receiver = `async-action-${Date.now()}`;
    await setWebhookUrls(await scriptReceiver(receiver, []));
    const { t } = await quietTenant();
    const input = { model: "text-embedding-3-small", input: "later", dimensions: 4 };
    const { id, statusUrl } = await enqueue(t, "create-embedding", input);
    expect(id).toMatch(/^act_[0-9a-f]{64}_[0-9a-f]{24}$/);
    expect(statusUrl).toBe(`/action/${id}`);

    const done = await until(statusUrl, (r) => r.status === "succeeded", "the run to succeed");
    expect(done).toMatchObject({ id, object: "action_run", action_name: "create-embedding", attempts: 1, next_attempt_at: null });
    expect(done.output).toMatchObject({ object: "list", model: "text-embedding-3-small", data: [{ index: 0 }] });
    // Nango's result: the output itself at the status URL.
    const result = await SELF.fetch(`${TERAPI}${statusUrl}`, { headers: auth });
    expect(result.status).toBe(200);
    expect(result.headers.get("terapi-action-status")).toBe("succeeded");
    expect(await result.json()).toEqual(done.output);
    expect(done.error).toBeUndefined();
    expect(Date.parse(done.updated_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));

    const event = await waitFor(async () => {
      const bodies = (await receivedBy(receiver)).map((x) => JSON.parse(x.body) as { type: string; payload: { id: string } });
      return bodies.find((b) => b.type === "async_action" && b.payload.id === id);
    }, "the async_action event");
    expect(event).toMatchObject({
      type: "async_action",
      connection_id: t.connectionId,
      provider_config_key: t.providerConfigKey,
      provider: "openai",
      payload: { id, action_name: "create-embedding", status: "succeeded", error: null },
    });
    await setWebhookUrls(null);
  });

  it("bad input is still a 422 at once: nothing is stored or sent", async () => {
    const { key, t } = await quietTenant();
    const before = (await simRequests(key)).length;
    const res = await trigger(t, "create-embedding", { model: "text-embedding-3-small" }, ASYNC);
    expect(res.status).toBe(422);
    const stored = await runInDurableObject(
      connectionObject(env, t.providerConfigKey, t.connectionId),
      (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs WHERE kind = 'action'").one().n,
    );
    expect(stored).toBe(0);
    expect((await simRequests(key)).length).toBe(before);
  });

  it("a run that meets a two-minute rate limit stays pending on the alarm until the reset, then succeeds", async () => {
    const key = await simKey({
      requests: { limit: 1, window_ms: 120_000 },
      models: oneBudget("text-embedding-3-small", { requests: { limit: 1, window_ms: 120_000 } }),
    });
    // The connection check takes the window's one request; its syncs wait for the reset too.
    const t = await createTenant(key, {}, { settle: false });
    const { statusUrl } = await enqueue(t, "create-embedding", { model: "text-embedding-3-small", input: "x" });

    // Either the run met the 429 itself, or the connection's first syncs did and the run waits behind them.
    const far = (r: ActionRunView) => r.status === "pending" && r.next_attempt_at !== null && Date.parse(r.next_attempt_at) - Date.now() > 100_000;
    const waiting = await until(statusUrl, far, "the run to wait");
    const dueAt = Date.parse(waiting.next_attempt_at!);
    // The reset the provider named (≈ 2 minutes), not a guess.
    expect(dueAt - Date.now()).toBeGreaterThan(100_000);
    expect(dueAt - Date.now()).toBeLessThanOrEqual(121_000);
    const stub = connectionObject(env, t.providerConfigKey, t.connectionId);
    // The alarm is re-armed when the object's alarm run is over (its syncs, each on its own endpoint's
    // budget, meet the shared window's 429 too, and wait for the same reset as read from their own answers).
    const armed = await waitFor(async () => (await stub.alarmAt()) ?? undefined, "the alarm re-armed");
    expect(armed).toBeLessThanOrEqual(dueAt);
    expect(armed - Date.now()).toBeGreaterThan(100_000);

    // An alarm before the reset sends nothing.
    await runDurableObjectAlarm(stub);
    const embeddings = async () => (await simRequests(key)).filter((r) => r.path === "/v1/embeddings").map((r) => r.status);
    const early = await embeddings();
    expect(early.filter((s) => s !== 429)).toEqual([]);
    expect((await getRun(statusUrl)).status).toBe("pending");
    // Nango's result URL while it waits: 202 with the run, not yet an output.
    const pendingResult = await SELF.fetch(`${TERAPI}${statusUrl}`, { headers: auth });
    expect(pendingResult.status).toBe(202);
    expect(pendingResult.headers.get("terapi-action-status")).toBe("pending");
    expect(await pendingResult.json()).toMatchObject({ object: "action_run", status: "pending" });

    // Two minutes pass: the provider's window and the clock move to the reset.
    await simKey({ key, requests: { limit: 1, window_ms: 1 }, models: oneBudget("text-embedding-3-small", { requests: { limit: 1, window_ms: 1 } }) });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(dueAt + 10);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    vi.useRealTimers();

    const done = await getRun(statusUrl);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(early.length + 1);
    expect(done.output).toMatchObject({ object: "list", data: [{ object: "embedding" }] });
    expect(await embeddings()).toEqual([...early, 200]);
  });

  it("running while the provider answers; failed with the provider's status and body when it refuses", async () => {
    const { key, t } = await quietTenant();
    await simFault({ key, count: 1, latency_ms: 1_500, path_prefix: "/v1/models" });
    const slow = await enqueue(t, "list-models", {});
    const running = await until(slow.statusUrl, (r) => r.status !== "pending", "the run to start");
    expect(running.status).toBe("running");
    expect(running.output).toBeUndefined();
    expect((await until(slow.statusUrl, (r) => r.status === "succeeded", "the slow run to finish")).output).toMatchObject({ object: "list" });

    const missing = await enqueue(t, "get-file", { file_id: "file-nothere" });
    const failed = await until(missing.statusUrl, (r) => r.status === "failed", "the run to fail");
    expect(failed.output).toBeUndefined();
    expect(failed.error).toMatchObject({
      code: "upstream_error",
      status: 404,
      details: { error: { type: "invalid_request_error", param: "id" } },
    });
    expect(failed.error!.message).toContain("file-nothere");

    // Both runs are in the connection's operation log, as actions.
    type Line = { type: string; status: string; http_status: number | null; detail: string };
    const lines = await waitFor(async () => {
      const res = await api<{ logs: Line[] }>("GET", `/logs?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&type=action`);
      return res.body.logs.length >= 2 ? res.body.logs : undefined;
    }, "two action lines");
    expect(lines.map((l) => [l.status, l.http_status, l.detail])).toEqual([
      ["failure", 404, "get-file (async): upstream_error"],
      ["success", 200, "list-models (async)"],
    ]);
  });

  it("X-Max-Retries carries over: a POST is retried after a 503 on the alarm", async () => {
    const { key, t } = await quietTenant();
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/moderations" });
    const { statusUrl } = await enqueue(t, "create-moderation", { input: "fine" }, { "X-Max-Retries": "1" });
    const done = await until(statusUrl, (r) => r.status === "succeeded" || r.status === "failed", "the run to end");
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
    expect((await simRequests(key)).filter((r) => r.path === "/v1/moderations").map((r) => r.status)).toEqual([503, 200]);

    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/moderations" });
    const once = await enqueue(t, "create-moderation", { input: "fine" }, { "X-Max-Retries": "0" });
    const failed = await until(once.statusUrl, (r) => r.status === "failed", "the run to fail");
    expect(failed.error).toMatchObject({ code: "upstream_error", status: 503 });
    const result = await SELF.fetch(`${TERAPI}${once.statusUrl}`, { headers: auth });
    expect(result.status).toBe(500);
    expect(result.headers.get("terapi-action-status")).toBe("failed");
    expect(((await result.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({
      code: "action_failed",
      details: { code: "upstream_error", status: 503 },
    });
  });

  const moderationRun = (retries: number, backoffAllowed: boolean) => ({
    kind: "action" as const,
    action: "create-moderation",
    input: new TextEncoder().encode(JSON.stringify({ input: "fine" })).buffer as ArrayBuffer,
    retries,
    backoffAllowed,
  });

  it("a run whose POST was at the provider at a crash is not sent again without X-Max-Retries: interrupted, the attempt counted, and an async_action event says so", async () => {
    const receiver = `async-action-crash-${Date.now()}`;
    await setWebhookUrls(await scriptReceiver(receiver, []));
    const { key, t } = await quietTenant();
    const id = await crashMidCall(t, moderationRun(2, false));
    const run = await until(`/action/${id}`, (r) => r.status !== "pending" && r.status !== "running", "the run to end");
    expect(run).toMatchObject({ status: "interrupted", attempts: 1, error: { code: "interrupted" } });
    expect((await simRequests(key)).filter((r) => r.path === "/v1/moderations")).toHaveLength(0);
    const event = await waitFor(async () => {
      const bodies = (await receivedBy(receiver)).map((x) => JSON.parse(x.body) as { type: string; payload: { id: string } });
      return bodies.find((b) => b.type === "async_action" && b.payload.id === id);
    }, "the async_action event");
    expect(event).toMatchObject({ payload: { id, status: "interrupted", error: { code: "interrupted" } } });
    await setWebhookUrls(null);
  });

  it("a run whose POST was at the provider at a crash is sent again with X-Max-Retries, both attempts counted", async () => {
    const { key, t } = await quietTenant();
    const id = await crashMidCall(t, moderationRun(2, true));
    const run = await until(`/action/${id}`, (r) => r.status !== "pending" && r.status !== "running", "the run to end");
    expect(run).toMatchObject({ status: "succeeded", attempts: 2 });
    expect((await simRequests(key)).filter((r) => r.path === "/v1/moderations")).toHaveLength(1);
  });

  it("a run whose GET was at the provider at a crash is sent again (safe to repeat)", async () => {
    const { key, t } = await quietTenant();
    const id = await crashMidCall(
      t,
      { kind: "action", action: "list-models", input: new TextEncoder().encode("{}").buffer as ArrayBuffer, retries: 2, backoffAllowed: false },
      "GET",
    );
    const run = await until(`/action/${id}`, (r) => r.status !== "pending" && r.status !== "running", "the run to end");
    expect(run).toMatchObject({ status: "succeeded", attempts: 2 });
    expect((await simRequests(key)).filter((r) => r.path === "/v1/models").length).toBeGreaterThanOrEqual(1);
  });

  it("404 only for ids that never existed (and proxy jobs are not action runs)", async () => {
    const { t } = await quietTenant();
    for (const id of ["nope", `act_${"0".repeat(64)}_${"a".repeat(24)}`, `act_${"z".repeat(64)}_abcdef01`]) {
      for (const path of [`/action/${id}`, `/action/${id}/run`]) {
        const res = await SELF.fetch(`${TERAPI}${path}`, { headers: auth });
        expect(res.status, path).toBe(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unknown_action_run");
      }
    }
    const proxyJob = (await (await proxyFetch(t, "/v1/models", { headers: { async: "true" } })).json()) as { id: string };
    expect((await SELF.fetch(`${TERAPI}/action/${proxyJob.id}`, { headers: auth })).status).toBe(404);
    const run = await enqueue(t, "list-models", {});
    expect((await SELF.fetch(`${TERAPI}/proxy/requests/${run.id}`, { headers: auth })).status).toBe(404);
    // A real id of this object that was never issued.
    const forged = run.id.replace(/_[0-9a-f]{24}$/, `_${"b".repeat(24)}`);
    expect((await SELF.fetch(`${TERAPI}/action/${forged}`, { headers: auth })).status).toBe(404);
    expect((await getRun(run.statusUrl)).id).toBe(run.id);
  });

  it("runs of different connections go in parallel (each on its own object)", async () => {
    const quiet = await Promise.all([quietTenant(), quietTenant(), quietTenant()]);
    const keys = quiet.map((q) => q.key);
    const tenants = quiet.map((q) => q.t);
    await Promise.all(keys.map((key) => simFault({ key, count: 1, latency_ms: 800, path_prefix: "/v1/models" })));
    const runs = await Promise.all(tenants.map((t) => enqueue(t, "list-models", {})));
    await Promise.all(runs.map((r) => until(r.statusUrl, (v) => v.status === "succeeded", "every run")));
    const windows = await Promise.all(
      keys.map(async (k) => (await simRequests(k)).find((r) => r.path === "/v1/models" && r.started_at > 0 && r.ended_at! - r.started_at >= 700)!),
    );
    // Every slow call started before any of them ended.
    const lastStart = Math.max(...windows.map((w) => w.started_at));
    const firstEnd = Math.min(...windows.map((w) => w.ended_at!));
    expect(lastStart).toBeLessThan(firstEnd);
  });
});
