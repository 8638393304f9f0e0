import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sendUpstream } from "../../src/proxy/upstream";
import { simFault, simKey } from "../harness/connections";

/**
 * One upstream call, both ways it is bounded: a stateless request's (the
 * proxy's, `leaveTimer`: the timeout races the fetch, no abort signal) and a
 * Durable Object's (the fetch is aborted and the timer cleared). Either way a
 * provider that sends no headers in time is a 504 `upstream_timeout`, one that
 * cannot be reached a 502 `upstream_unreachable`, and an answer is handed back
 * as it came.
 */
describe.each([
  { way: "raced (stateless request)", leaveTimer: true },
  { way: "aborted (Durable Object)", leaveTimer: false },
])("sendUpstream, $way", ({ leaveTimer }) => {
  const call = (url: string, key: string, timeoutMs?: number) =>
    sendUpstream(url, { method: "GET", headers: new Headers({ authorization: `Bearer ${key}` }), body: null, timeoutMs, leaveTimer });

  it("hands back the provider's answer", async () => {
    const key = await simKey();
    const res = await call(`${env.OPENAI_BASE_URL}/v1/models`, key);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
  });

  it("no headers within the timeout: 504 upstream_timeout", async () => {
    const key = await simKey();
    await simFault({ key, count: 1, latency_ms: 3_000, path_prefix: "/v1/models" });
    await expect(call(`${env.OPENAI_BASE_URL}/v1/models`, key, 100)).rejects.toMatchObject({ status: 504, code: "upstream_timeout" });
    // The next call is not held by the one that timed out (the provider's default bound: no real-time limit here).
    expect((await call(`${env.OPENAI_BASE_URL}/v1/models`, key)).status).toBe(200);
  });

  it("nobody listening: 502 upstream_unreachable", async () => {
    const key = await simKey();
    await expect(call("http://127.0.0.1:1/v1/models", key)).rejects.toMatchObject({ status: 502, code: "upstream_unreachable" });
  });
});
