// Injected faults (status, latency, dropped connections) and chunk pacing of streams.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { client, control, newKey, parseSse, startSim } from "./simulator-support.ts";

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim?.close();
});

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "one two three four five six seven eight nine ten" }] };
const fault = (body: object) => control(sim.url, "POST", "/__sim/faults", body);

/** Raw HTTP call that reports socket errors and chunk arrival times. */
function raw(
  path: string,
  key: string,
  body: object,
  headers: Record<string, string> = {},
): Promise<{ status?: number; chunks: Array<{ at: number; text: string }>; error?: string }> {
  const url = new URL(sim.url + path);
  return new Promise((resolve) => {
    const chunks: Array<{ at: number; text: string }> = [];
    let status: number | undefined;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      },
      (res) => {
        status = res.statusCode;
        res.on("data", (c: Buffer) => chunks.push({ at: Date.now(), text: c.toString() }));
        res.on("end", () => resolve({ status, chunks }));
        res.on("error", (e) => resolve({ status, chunks, error: e.message }));
        res.on("aborted", () => resolve({ status, chunks, error: "aborted" }));
      },
    );
    req.on("error", (e) => resolve({ status, chunks, error: e.message }));
    req.end(JSON.stringify(body));
  });
}

describe("faults", () => {
  it("next N requests answer the given status, then normal service", async () => {
    const key = await newKey(sim.url);
    const c = client(sim.url, key);
    await fault({ key, count: 2, status: 503 });
    const a = await c.post("/v1/chat/completions", chat);
    expect(a.status).toBe(503);
    expect(a.json).toEqual({ error: { message: expect.any(String), type: "server_error", param: null, code: null } });
    expect(a.headers.get("x-request-id")).toMatch(/^req_/);
    expect((await c.get("/v1/models")).status).toBe(503);
    expect((await c.get("/v1/models")).status).toBe(200);
  });

  it("matches method and path prefix, and custom bodies", async () => {
    const key = await newKey(sim.url);
    const c = client(sim.url, key);
    await fault({
      key,
      count: 1,
      status: 400,
      method: "POST",
      path_prefix: "/v1/embeddings",
      body: { error: { message: "custom", type: "invalid_request_error", param: "input", code: null } },
    });
    expect((await c.get("/v1/models")).status).toBe(200);
    expect((await c.post("/v1/chat/completions", chat)).status).toBe(200);
    const r = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: "x" });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { message: "custom", param: "input" } });
    for (const s of [500, 502, 408, 401]) await fault({ key, count: 1, status: s });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await c.get("/v1/models")).status);
    expect(statuses).toEqual([500, 502, 408, 401]);
  });

  it("adds latency", async () => {
    const key = await newKey(sim.url);
    await fault({ key, count: 1, latency_ms: 200 });
    const t0 = Date.now();
    const r = await client(sim.url, key).get("/v1/models");
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it("drops the connection without a response", async () => {
    const key = await newKey(sim.url);
    await fault({ key, count: 1, drop: "connect" });
    const r = await raw("/v1/chat/completions", key, chat);
    expect(r.status).toBeUndefined();
    expect(r.error).toBeTruthy();
    expect((await raw("/v1/chat/completions", key, chat)).status).toBe(200);
  });

  it("drops mid-stream after some chunks", async () => {
    const key = await newKey(sim.url);
    await fault({ key, count: 1, drop: "mid-stream" });
    const r = await raw("/v1/chat/completions", key, { ...chat, stream: true });
    expect(r.status).toBe(200);
    expect(r.error).toBeTruthy();
    const text = r.chunks.map((c) => c.text).join("");
    expect(text).toContain("data: {");
    expect(text).not.toContain("[DONE]");
  });
});

describe("upstream latency", () => {
  it("x-sim-latency-ms delays the answer by that long", async () => {
    const key = await newKey(sim.url);
    const t0 = performance.now();
    const quick = await raw("/v1/chat/completions", key, chat);
    const quickMs = performance.now() - t0;
    const t1 = performance.now();
    const slow = await raw("/v1/chat/completions", key, chat, { "x-sim-latency-ms": "150" });
    const slowMs = performance.now() - t1;
    expect([quick.status, slow.status]).toEqual([200, 200]);
    expect(slowMs).toBeGreaterThanOrEqual(150);
    // Relative, not a wall-clock bound: without the header no delay is added, whatever the machine's load.
    expect(quickMs).toBeLessThan(slowMs);
  });
});

describe("stream pacing", () => {
  it("x-sim-chunk-delay-ms spreads chunks out, each flushed on its own", async () => {
    const key = await newKey(sim.url);
    const t0 = Date.now();
    const r = await raw("/v1/chat/completions", key, { ...chat, stream: true }, { "x-sim-chunk-delay-ms": "40" });
    const events = parseSse(r.chunks.map((c) => c.text).join(""));
    expect(events.at(-1)?.data).toBe("[DONE]");
    expect(r.chunks.length).toBeGreaterThanOrEqual(events.length - 1);
    const spread = r.chunks.at(-1)!.at - r.chunks[0].at;
    expect(spread).toBeGreaterThanOrEqual(40 * (events.length - 2));
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
