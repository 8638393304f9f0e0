// Rate limits, quota, restricted and admin keys, auth errors, request log and stats.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { goDuration } from "../simulator/util.ts";
import { client, control, loadOpenApi, newKey, startSim } from "./simulator-support.ts";

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSim();
  loadOpenApi();
}, 30_000);
afterAll(async () => {
  await sim?.close();
});

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 10 };
const RL_HEADERS = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
];
const GO_DURATION = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;

describe("go durations", () => {
  it("formats like OpenAI", () => {
    expect([850, 1500, 360_000, 692_334, 20, 1000, 3_600_000].map(goDuration)).toEqual(["850ms", "1.5s", "6m0s", "11m32.334s", "20ms", "1s", "1h0m0s"]);
  });
});

describe("headers", () => {
  it("every data-plane response carries request id, version, processing time and rate-limit headers", async () => {
    const c = client(sim.url, "sk-test-good");
    for (const r of [await c.get("/v1/models"), await c.post("/v1/chat/completions", chat), await c.get("/v1/files/file-nope")]) {
      expect(r.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
      expect(r.headers.get("openai-version")).toBe("2020-10-01");
      expect(r.headers.get("openai-processing-ms")).toMatch(/^\d+$/);
      for (const h of RL_HEADERS) expect(r.headers.get(h), h).not.toBeNull();
      expect(r.headers.get("x-ratelimit-reset-requests")).toMatch(GO_DURATION);
    }
  });
});

describe("rate limits", () => {
  it("requests window: 429 with OpenAI's body, retry-after, not consuming the window; stats count per window", async () => {
    const key = await newKey(sim.url, { requests: { limit: 3, window_ms: 1500 } });
    const c = client(sim.url, key);
    const ok = [];
    for (let i = 0; i < 3; i++) ok.push(await c.post("/v1/chat/completions", chat));
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ok.map((r) => r.headers.get("x-ratelimit-remaining-requests"))).toEqual(["2", "1", "0"]);
    const r = await c.post("/v1/chat/completions", chat);
    expect(r.status).toBe(429);
    const body = r.json as { error: { message: string; type: string; code: string; param: null } };
    expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded", param: null });
    expect(body.error.message).toMatch(
      /^Rate limit reached for gpt-4o-mini in organization org-[0-9a-f]+ on requests per min \(RPM\): Limit 3, Used 3, Requested 1\. Please try again in \d+(\.\d+)?m?s\. Visit https:\/\/platform\.openai\.com\/account\/rate-limits to learn more\.$/,
    );
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(r.headers.get("x-ratelimit-reset-requests")).toMatch(GO_DURATION);
    const v = loadOpenApi().response("/chat/completions", "post", 429);
    expect(v(r.json)).toBe(true);
    expect((await c.post("/v1/chat/completions", chat)).status).toBe(429);
    let stats = await control<{
      requests: number;
      by_status: Record<string, number>;
      rate_limited: { total: number; windows_with_429: number; max_429_in_one_window: number };
      buckets: unknown;
    }>(sim.url, "GET", `/__sim/stats?key=${key}`);
    expect(stats).toEqual({
      requests: 5,
      by_status: { "200": 3, "429": 2 },
      rate_limited: { total: 2, windows_with_429: 1, max_429_in_one_window: 2 },
      buckets: {
        "gpt-4o-mini": {
          requests: 5,
          rate_limited: {
            total: 2,
            windows_with_429: 1,
            max_429_in_one_window: 2,
            by_kind: { requests: 2, tokens: 0, requests_per_day: 0, tokens_per_day: 0 },
          },
          tokens_charged: 3 * 11,
        },
      },
    });
    await new Promise((res) => setTimeout(res, 1550));
    const again = await c.post("/v1/chat/completions", chat);
    expect(again.status).toBe(200);
    expect(again.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    for (let i = 0; i < 3; i++) await c.post("/v1/chat/completions", chat);
    stats = await control(sim.url, "GET", `/__sim/stats?key=${key}`);
    expect(stats.rate_limited).toEqual({ total: 3, windows_with_429: 2, max_429_in_one_window: 2 });
  });

  it("tokens window: input chars/4 + max_tokens; 429 type tokens, TPM", async () => {
    const key = await newKey(sim.url, { tokens: { limit: 100, window_ms: 60_000 } });
    const c = client(sim.url, key);
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(40) }], max_tokens: 40 }; // 10 + 40
    const a = await c.post("/v1/chat/completions", body);
    expect(a.status).toBe(200);
    expect(a.headers.get("x-ratelimit-remaining-tokens")).toBe("50");
    expect((await c.post("/v1/chat/completions", body)).headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    const r = await c.post("/v1/chat/completions", body);
    expect(r.status).toBe(429);
    expect(r.json).toMatchObject({ error: { type: "tokens", code: "rate_limit_exceeded" } });
    expect((r.json as { error: { message: string } }).error.message).toContain("on tokens per min (TPM): Limit 100, Used 100, Requested 50.");
    expect(r.headers.get("x-ratelimit-reset-tokens")).toMatch(/^\d+(\.\d+)?s$/);
  });
});

describe("special keys", () => {
  it("insufficient_quota on every call", async () => {
    const c = client(sim.url, "sk-test-quota");
    for (const r of [await c.get("/v1/models"), await c.post("/v1/chat/completions", chat)]) {
      expect(r.status).toBe(429);
      expect(r.json).toEqual({
        error: {
          message: expect.stringMatching(/^You exceeded your current quota, please check your plan and billing details/),
          type: "insufficient_quota",
          param: null,
          code: "insufficient_quota",
        },
      });
    }
    const minted = client(sim.url, await newKey(sim.url, { kind: "quota" }));
    expect((await minted.post("/v1/embeddings", { model: "text-embedding-3-small", input: "x" })).status).toBe(429);
  });

  it("restricted key: 403 on models, other endpoints work", async () => {
    const c = client(sim.url, "sk-test-restricted");
    const r = await c.get("/v1/models");
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({
      error: {
        type: "invalid_request_error",
        code: null,
        message: expect.stringContaining("You have insufficient permissions for this operation. Missing scopes: api.model.read."),
      },
    });
    expect((await c.post("/v1/chat/completions", chat)).status).toBe(200);
  });

  it("unknown and missing keys: 401 invalid_api_key", async () => {
    const r = await client(sim.url, "sk-unknown-abcdef-xyz").get("/v1/models");
    expect(r.status).toBe(401);
    expect(r.json).toEqual({
      error: {
        message: expect.stringMatching(
          /^Incorrect API key provided: sk-.*-xyz\. You can find your API key at https:\/\/platform\.openai\.com\/account\/api-keys\.$/,
        ),
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
    const none = await fetch(`${sim.url}/v1/models`);
    expect(none.status).toBe(401);
  });

  it("admin endpoints need an admin key", async () => {
    expect((await client(sim.url, "sk-test-good").get("/v1/organization/projects")).status).toBe(403);
    expect((await client(sim.url, "sk-admin-test").get("/v1/organization/projects")).status).toBe(200);
    const minted = await newKey(sim.url, { kind: "admin" });
    expect(minted).toMatch(/^sk-admin-sim-/);
    expect((await client(sim.url, minted).get("/v1/organization/users")).status).toBe(200);
  });
});

describe("request log", () => {
  it("records every request of a key, unknown keys included", async () => {
    const key = await newKey(sim.url);
    const c = client(sim.url, key);
    await c.get("/v1/models?x=1");
    await c.post("/v1/chat/completions", chat);
    const log = await control<
      Array<{
        method: string;
        path: string;
        query: string;
        headers: Record<string, string>;
        body_size: number;
        body_sha256: string;
        status: number;
        started_at: number;
        ended_at: number;
      }>
    >(sim.url, "GET", `/__sim/requests?key=${key}`);
    expect(log.map((l) => [l.method, l.path, l.query, l.status])).toEqual([
      ["GET", "/v1/models", "x=1", 200],
      ["POST", "/v1/chat/completions", "", 200],
    ]);
    expect(log[1].headers.authorization).toBe(`Bearer ${key}`);
    const raw = JSON.stringify(chat);
    expect(log[1].body_size).toBe(raw.length);
    const { createHash } = await import("node:crypto");
    expect(log[1].body_sha256).toBe(createHash("sha256").update(raw).digest("hex"));
    expect(log[1].ended_at).toBeGreaterThanOrEqual(log[1].started_at);
    await client(sim.url, "sk-nobody-knows").get("/v1/models");
    expect(await control(sim.url, "GET", "/__sim/requests?key=sk-nobody-knows")).toMatchObject([{ path: "/v1/models", status: 401 }]);
  });
});
