// Per-model limits as OpenAI keeps them (notes/SIM-LIMITS.md): a bucket per model, declared
// family or endpoint; requests and tokens per minute at once, per-day limits; tokens charged up
// front; refused requests counted; OpenAI's 429 bodies and headers; stats per bucket.
// The windows run on an injected clock, so nothing here depends on timing.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { client, control, loadOpenApi, newKey, startSim } from "./simulator-support.ts";
import type { Reply } from "./simulator-support.ts";

let sim: SimulatorHandle;
let clock = 0;
beforeAll(async () => {
  sim = await startSim();
  sim.state.now = () => clock;
  loadOpenApi();
}, 30_000);
afterAll(async () => {
  await sim?.close();
});
beforeEach(() => {
  clock = 1_700_000_000_000;
});

type Lim = { limit: number; window_ms: number };
type BucketStats = {
  requests: number;
  tokens_charged: number;
  rate_limited: { total: number; windows_with_429: number; max_429_in_one_window: number; by_kind: Record<string, number> };
};
type Stats = {
  requests: number;
  by_status: Record<string, number>;
  rate_limited: { total: number; windows_with_429: number; max_429_in_one_window: number };
  buckets: Record<string, BucketStats>;
};

const BIG: Lim = { limit: 1_000_000, window_ms: 60_000 };
const rpm = (limit: number, window_ms = 60_000): Lim => ({ limit, window_ms });
const chat = (model: string, content = "hi", max_tokens = 10) => ({ model, messages: [{ role: "user", content }], max_tokens });
const stats = (key: string) => control<Stats>(sim.url, "GET", `/__sim/stats?key=${key}`);
const h = (r: Reply, name: string) => r.headers.get(`x-ratelimit-${name}`);
const remaining = (r: Reply) => [Number(h(r, "remaining-requests")), Number(h(r, "remaining-tokens"))];
const errorOf = (r: Reply) => (r.json as { error: { message: string; type: string; param: null; code: string } }).error;
const orgOf = (r: Reply) => r.headers.get("openai-organization") as string;

async function keyWith(opts: Record<string, unknown>) {
  return client(sim.url, await newKey(sim.url, opts));
}

describe("buckets", () => {
  it("each model keeps its own windows; the headers describe the bucket the request was charged to", async () => {
    const c = await keyWith({ requests: rpm(3), tokens: BIG, models: { "gpt-4o": { requests: rpm(2), tokens: rpm(5_000) } } });
    const a = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expect([h(a, "limit-requests"), h(a, "limit-tokens")]).toEqual(["2", "5000"]);
    expect(remaining(a)).toEqual([1, 5_000 - 11]);
    await c.post("/v1/chat/completions", chat("gpt-4o"));
    const refused = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expect(refused.status).toBe(429);
    expect(errorOf(refused).message).toContain("Rate limit reached for gpt-4o in organization");

    // gpt-4o's limit does not touch gpt-4o-mini: its own bucket, the key's default limits.
    const mini = await c.post("/v1/chat/completions", chat("gpt-4o-mini"));
    expect(mini.status).toBe(200);
    expect([h(mini, "limit-requests"), h(mini, "limit-tokens")]).toEqual(["3", "1000000"]);
    expect(remaining(mini)).toEqual([2, 1_000_000 - 11]);
    const emb = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: "abcd" });
    expect(emb.status).toBe(200);
    expect(remaining(emb)).toEqual([2, 1_000_000 - 1]);
  });

  it("every model no family lists is a bucket of its own with the key's defaults", async () => {
    const c = await keyWith({ requests: rpm(1), models: { "gpt-4o": { requests: rpm(5) } } });
    for (const model of ["gpt-4.1", "gpt-4.1-mini", "o3", "gpt-4o-2024-08-06"]) {
      const ok = await c.post("/v1/chat/completions", chat(model));
      expect(ok.status, model).toBe(200);
      expect(h(ok, "limit-requests")).toBe("1");
      const no = await c.post("/v1/chat/completions", chat(model));
      expect(no.status, model).toBe(429);
      expect(errorOf(no).message).toContain(`Rate limit reached for ${model} in organization`);
    }
    expect(Object.keys((await stats(c.key)).buckets).sort()).toEqual(["gpt-4.1", "gpt-4.1-mini", "gpt-4o-2024-08-06", "o3"]);
  });

  it("a family's members share its budget, and its name is the one in the 429", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(3), tokens: BIG, members: ["gpt-4o-2024-08-06", "gpt-4o-2024-11-20"] } } });
    const seq = [];
    for (const model of ["gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-2024-11-20"]) {
      const r = await c.post("/v1/chat/completions", chat(model));
      seq.push([r.status, h(r, "remaining-requests")]);
    }
    expect(seq).toEqual([
      [200, "2"],
      [200, "1"],
      [200, "0"],
    ]);
    const r = await c.post("/v1/responses", { model: "gpt-4o-2024-08-06", input: "x", max_output_tokens: 16 });
    expect(r.status).toBe(429);
    expect(errorOf(r).message).toMatch(
      /^Rate limit reached for gpt-4o in organization org-[0-9a-f]+ on requests per min \(RPM\): Limit 3, Used 3, Requested 1\./,
    );
    const other = await c.post("/v1/chat/completions", chat("gpt-4o-mini"));
    expect(other.status).toBe(200);
    const s = await stats(c.key);
    expect(Object.keys(s.buckets).sort()).toEqual(["gpt-4o", "gpt-4o-mini"]);
    expect(s.buckets["gpt-4o"].requests).toBe(4);
  });

  it("requests without a model are charged to their endpoint's bucket, 0 tokens; fine-tuning's model does not count", async () => {
    const c = await keyWith({ requests: rpm(2), tokens: rpm(1_000), models: { "gpt-4o-mini": { requests: rpm(50) } } });
    const fd = new FormData();
    fd.append("purpose", "batch");
    fd.append("file", new Blob(['{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}}\n']), "in.jsonl");
    const up = await c.post("/v1/files", fd);
    expect(up.status).toBe(200);
    expect(remaining(up)).toEqual([1, 1_000]);
    const list = await c.get("/v1/files");
    expect(remaining(list)).toEqual([0, 1_000]);
    const third = await c.get(`/v1/files/${(up.json as { id: string }).id}`);
    expect(third.status).toBe(429);
    expect(errorOf(third).message).toContain("Rate limit reached for /v1/files in organization");

    // Other endpoints are other buckets.
    expect((await c.get("/v1/models")).status).toBe(200);
    expect((await c.get("/v1/batches")).status).toBe(200);
    expect((await c.get("/v1/vector_stores")).status).toBe(200);
    // Fine-tuning names a model in its body but is charged to /v1/fine_tuning, not to gpt-4o-mini.
    const ft = await c.post("/v1/fine_tuning/jobs", { model: "gpt-4o-mini", training_file: (up.json as { id: string }).id });
    expect(ft.status).toBe(200);
    expect(h(ft, "limit-requests")).toBe("2");
    expect(remaining(ft)).toEqual([1, 1_000]);
    // A chat call without a model is no model's: its endpoint's.
    const bad = await c.post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }] });
    expect(bad.status).toBe(400);
    expect(remaining(bad)).toEqual([1, 1_000]);

    const s = await stats(c.key);
    expect(Object.fromEntries(Object.entries(s.buckets).map(([k, v]) => [k, [v.requests, v.tokens_charged]]))).toEqual({
      "/v1/files": [3, 0],
      "/v1/models": [1, 0],
      "/v1/batches": [1, 0],
      "/v1/vector_stores": [1, 0],
      "/v1/fine_tuning": [1, 0],
      "/v1/chat": [1, 0],
    });
  });

  it("each key has its own buckets", async () => {
    const opts = { models: { "gpt-4o": { requests: rpm(1) } } };
    const a = await keyWith(opts);
    const b = await keyWith(opts);
    expect((await a.post("/v1/chat/completions", chat("gpt-4o"))).status).toBe(200);
    expect((await a.post("/v1/chat/completions", chat("gpt-4o"))).status).toBe(429);
    expect((await b.post("/v1/chat/completions", chat("gpt-4o"))).status).toBe(200);
  });
});

describe("tokens charged up front", () => {
  /** The tokens one request is charged: what remaining-tokens moves by, and what the stats add up. */
  async function charge(body: object, path = "/v1/chat/completions", opts: Record<string, unknown> = {}): Promise<number> {
    const c = await keyWith({ tokens: BIG, ...opts });
    const r = await c.post(path, body);
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    const charged = BIG.limit - Number(h(r, "remaining-tokens"));
    const model = (body as { model: string }).model;
    expect((await stats(c.key)).buckets[model].tokens_charged).toBe(charged);
    return charged;
  }

  it("chat: ceil(text chars of the messages / 4) + max tokens × n; the max-token fields in OpenAI's order", async () => {
    const messages = [
      { role: "system", content: "s".repeat(10) },
      {
        role: "user",
        content: [
          { type: "text", text: "t".repeat(7) },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
        ],
      },
      { role: "assistant", content: "a".repeat(4) },
    ];
    // 21 chars → 6 tokens
    expect(await charge({ model: "gpt-4o", messages, max_tokens: 100 })).toBe(6 + 100);
    expect(await charge({ model: "gpt-4o", messages, max_tokens: 100, max_completion_tokens: 40 })).toBe(6 + 40);
    expect(await charge({ model: "gpt-4o", messages, max_completion_tokens: 40, n: 3 })).toBe(6 + 120);
    // No max-token field: the default of 256 (× n).
    expect(await charge({ model: "gpt-4o", messages })).toBe(6 + 256);
    expect(await charge({ model: "gpt-4o", messages, n: 2 })).toBe(6 + 512);
  });

  it("responses: input (string or message items) + instructions, + max_output_tokens", async () => {
    expect(await charge({ model: "gpt-4o", input: "x".repeat(40), instructions: "y".repeat(8), max_output_tokens: 50 }, "/v1/responses")).toBe(12 + 50);
    const input = [
      { role: "user", content: [{ type: "input_text", text: "x".repeat(9) }] },
      { role: "user", content: "z".repeat(3) },
    ];
    expect(await charge({ model: "gpt-4o", input }, "/v1/responses")).toBe(3 + 256);
  });

  it("embeddings and moderations: their input only (no output allowance); token-id inputs count one each", async () => {
    expect(await charge({ model: "text-embedding-3-small", input: "x".repeat(17) }, "/v1/embeddings")).toBe(5);
    expect(await charge({ model: "text-embedding-3-small", input: ["x".repeat(6), "y".repeat(6)] }, "/v1/embeddings")).toBe(3);
    expect(await charge({ model: "text-embedding-3-small", input: [1, 2, 3, 4, 5] }, "/v1/embeddings")).toBe(5);
    expect(await charge({ model: "omni-moderation-latest", input: "k".repeat(40) }, "/v1/moderations")).toBe(10);
    expect(
      await charge(
        {
          model: "omni-moderation-latest",
          input: [
            { type: "text", text: "k".repeat(8) },
            { type: "image_url", image_url: { url: "https://example.com/x.png" } },
          ],
        },
        "/v1/moderations",
      ),
    ).toBe(2);
  });

  it("images and speech: prompt / input chars + the default output allowance × n", async () => {
    expect(await charge({ model: "gpt-image-1", prompt: "p".repeat(20), n: 2 }, "/v1/images/generations")).toBe(5 + 512);
    expect(await charge({ model: "gpt-4o-mini-tts", input: "s".repeat(8), voice: "alloy" }, "/v1/audio/speech")).toBe(2 + 256);
  });

  it("chars_per_token sets the prompt estimate", async () => {
    const body = { model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(30) }], max_tokens: 1 };
    expect(await charge(body, undefined, { chars_per_token: 2 })).toBe(15 + 1);
    expect(await charge(body, undefined, { chars_per_token: 7 })).toBe(5 + 1);
    expect(await charge(body)).toBe(8 + 1);
  });
});

describe("both dimensions and the 429s", () => {
  function expectOpenAi429(r: Reply, type: "requests" | "tokens"): void {
    expect(r.status).toBe(429);
    const v = loadOpenApi().schema("ErrorResponse");
    if (!v(r.json)) throw new Error(loadOpenApi().errors(v));
    expect(errorOf(r)).toMatchObject({ type, param: null, code: "rate_limit_exceeded" });
    for (const name of ["limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"])
      expect(h(r, name), name).not.toBeNull();
    expect(r.headers.get("x-request-id")).toMatch(/^req_/);
  }

  it("RPM: OpenAI's message and headers; the reset is the window's", async () => {
    const c = await keyWith({ tokens: BIG, models: { "gpt-4o": { requests: rpm(2, 10_000) } } });
    await c.post("/v1/chat/completions", chat("gpt-4o"));
    clock += 1_500;
    await c.post("/v1/chat/completions", chat("gpt-4o"));
    clock += 4_300;
    const r = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expectOpenAi429(r, "requests");
    expect(errorOf(r).message).toBe(
      `Rate limit reached for gpt-4o in organization ${orgOf(r)} on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 4.2s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    );
    expect([h(r, "remaining-requests"), h(r, "reset-requests")]).toEqual(["0", "4.2s"]);
    expect([r.headers.get("retry-after"), r.headers.get("retry-after-ms")]).toEqual(["5", "4200"]);
    // The window ends: a fresh one.
    clock += 4_200;
    const ok = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expect(ok.status).toBe(200);
    expect([h(ok, "remaining-requests"), h(ok, "reset-requests")]).toEqual(["1", "10s"]);
  });

  it("TPM: refused while requests have room; the refusal costs one request and no tokens", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(10), tokens: rpm(1_000, 6_000) } } });
    const body = chat("gpt-4o", "x".repeat(400), 300); // 100 + 300
    const ok = [];
    for (let i = 0; i < 2; i++) ok.push(remaining(await c.post("/v1/chat/completions", body)));
    expect(ok).toEqual([
      [9, 600],
      [8, 200],
    ]);
    clock += 1_800;
    const r = await c.post("/v1/chat/completions", body);
    expectOpenAi429(r, "tokens");
    expect(errorOf(r).message).toBe(
      `Rate limit reached for gpt-4o in organization ${orgOf(r)} on tokens per min (TPM): Limit 1000, Used 800, Requested 400. Please try again in 4.2s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    );
    expect(remaining(r)).toEqual([7, 200]);
    expect(h(r, "reset-tokens")).toBe("4.2s");
    // A smaller request still fits: tokens were not taken by the refusal.
    const small = await c.post("/v1/chat/completions", chat("gpt-4o", "x".repeat(40), 190)); // 10 + 190
    expect(small.status).toBe(200);
    expect(remaining(small)).toEqual([6, 0]);
  });

  it("requests out while tokens have room: type requests", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(1), tokens: rpm(1_000_000) } } });
    await c.post("/v1/chat/completions", chat("gpt-4o"));
    const r = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expectOpenAi429(r, "requests");
    expect(remaining(r)).toEqual([0, 1_000_000 - 11]);
  });

  it("RPD: 'requests per day (RPD)', type requests; refused requests count against the day too", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(2, 1_000), tokens: BIG, requests_per_day: { limit: 3, window_ms: 86_400_000 } } } });
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await c.post("/v1/chat/completions", chat("gpt-4o"))).status);
      clock += 100;
    }
    // The third was refused by the minute (2 per second) and still counts against the day's 3.
    expect(statuses).toEqual([200, 200, 429]);
    clock += 1_000;
    const r = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expectOpenAi429(r, "requests");
    const left = 86_400_000 - 1_300;
    expect(errorOf(r).message).toBe(
      `Rate limit reached for gpt-4o in organization ${orgOf(r)} on requests per day (RPD): Limit 3, Used 3, Requested 1. Please try again in 23h59m58.7s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    );
    expect(r.headers.get("retry-after")).toBe(String(Math.ceil(left / 1000)));
    expect(r.headers.get("retry-after-ms")).toBe(String(left));
    // The headers keep describing the per-minute windows: the minute has room.
    expect([h(r, "limit-requests"), h(r, "remaining-requests")]).toEqual(["2", "1"]);
    expect((await stats(c.key)).buckets["gpt-4o"].rate_limited.by_kind).toEqual({ requests: 1, tokens: 0, requests_per_day: 1, tokens_per_day: 0 });
  });

  it("TPD: 'tokens per day (TPD)', type tokens", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(100, 1_000), tokens: rpm(1_000, 1_000), tokens_per_day: { limit: 1_500 } } } });
    const body = chat("gpt-4o", "x".repeat(400), 500); // 600
    expect((await c.post("/v1/chat/completions", body)).status).toBe(200);
    clock += 2_000;
    expect((await c.post("/v1/chat/completions", body)).status).toBe(200);
    clock += 2_000;
    const r = await c.post("/v1/chat/completions", body);
    expectOpenAi429(r, "tokens");
    expect(errorOf(r).message).toBe(
      `Rate limit reached for gpt-4o in organization ${orgOf(r)} on tokens per day (TPD): Limit 1500, Used 1200, Requested 600. Please try again in 23h59m56s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    );
    // The minute's token window has room; the day's does not.
    expect(remaining(r)).toEqual([99, 1_000]);
    expect((await stats(c.key)).buckets["gpt-4o"].rate_limited.by_kind).toEqual({ requests: 0, tokens: 0, requests_per_day: 0, tokens_per_day: 1 });
  });

  it("when several limits refuse, the 429 names the one that resets last", async () => {
    const c = await keyWith({ models: { "gpt-4o": { requests: rpm(1, 1_000), requests_per_day: { limit: 1 } } } });
    expect((await c.post("/v1/chat/completions", chat("gpt-4o"))).status).toBe(200);
    const r = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expect(errorOf(r).message).toContain("on requests per day (RPD): Limit 1, Used 1, Requested 1. Please try again in 24h0m0s.");
  });

  it("a request larger than the whole token limit: OpenAI's 'Request too large'", async () => {
    const c = await keyWith({ models: { "gpt-4o": { tokens: rpm(100) } } });
    const r = await c.post("/v1/chat/completions", chat("gpt-4o", "x".repeat(40), 200));
    expectOpenAi429(r, "tokens");
    expect(errorOf(r).message).toBe(
      `Request too large for gpt-4o in organization ${orgOf(r)} on tokens per min (TPM): Limit 100, Requested 210. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    );
  });

  it("insufficient_quota keys are unchanged", async () => {
    const c = await keyWith({ kind: "quota", models: { "gpt-4o": { requests: rpm(1) } } });
    const r = await c.post("/v1/chat/completions", chat("gpt-4o"));
    expect(r.status).toBe(429);
    expect(errorOf(r)).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
  });
});

describe("stats by bucket", () => {
  it("counts requests, tokens charged and 429s per bucket and per window of the refusing dimension; the key's totals add them up", async () => {
    const c = await keyWith({
      requests: rpm(2, 1_000),
      tokens: BIG,
      models: { "gpt-4o": { requests: rpm(10, 1_000), tokens: rpm(100, 1_000) } },
    });
    const big = chat("gpt-4o", "x".repeat(40), 50); // 60 tokens
    // gpt-4o window 1: one admitted, two refused on tokens.
    for (let i = 0; i < 3; i++) await c.post("/v1/chat/completions", big);
    // gpt-4o-mini window 1: two admitted, three refused on requests.
    for (let i = 0; i < 5; i++) await c.post("/v1/chat/completions", chat("gpt-4o-mini"));
    clock += 1_000;
    // Window 2 of each: one 429 each.
    for (let i = 0; i < 2; i++) await c.post("/v1/chat/completions", big);
    for (let i = 0; i < 3; i++) await c.post("/v1/chat/completions", chat("gpt-4o-mini"));
    const s = await stats(c.key);
    expect(s.buckets).toEqual({
      "gpt-4o": {
        requests: 5,
        tokens_charged: 120,
        rate_limited: { total: 3, windows_with_429: 2, max_429_in_one_window: 2, by_kind: { requests: 0, tokens: 3, requests_per_day: 0, tokens_per_day: 0 } },
      },
      "gpt-4o-mini": {
        requests: 8,
        tokens_charged: 44,
        rate_limited: { total: 4, windows_with_429: 2, max_429_in_one_window: 3, by_kind: { requests: 4, tokens: 0, requests_per_day: 0, tokens_per_day: 0 } },
      },
    });
    expect(s.rate_limited).toEqual({ total: 7, windows_with_429: 4, max_429_in_one_window: 3 });
    expect(s.requests).toBe(13);
    expect(s.by_status).toEqual({ "200": 6, "429": 7 });
  });
});

describe("control API", () => {
  it("echoes what was set; keeps what a later call leaves out", async () => {
    const body = {
      requests: rpm(5, 1_000),
      tokens: rpm(6_000, 1_000),
      models: {
        "gpt-4o": {
          requests: rpm(4, 1_000),
          tokens: rpm(30_000, 1_000),
          requests_per_day: { limit: 100, window_ms: 86_400_000 },
          tokens_per_day: { limit: 1_000_000 },
          members: ["gpt-4o-2024-08-06"],
        },
      },
      chars_per_token: 3,
    };
    const set = await control<Record<string, unknown>>(sim.url, "POST", "/__sim/keys", body);
    expect(set).toMatchObject({
      kind: "standard",
      organization_id: expect.stringMatching(/^org-/),
      requests: body.requests,
      tokens: body.tokens,
      models: { "gpt-4o": { ...body.models["gpt-4o"], tokens_per_day: { limit: 1_000_000, window_ms: 86_400_000 } } },
      chars_per_token: 3,
    });
    const again = await control<Record<string, unknown>>(sim.url, "POST", "/__sim/keys", { key: set.key, requests: rpm(9) });
    expect(again).toMatchObject({ requests: rpm(9), tokens: body.tokens, models: set.models, chars_per_token: 3 });
  });

  it("refuses malformed limits with a 400", async () => {
    for (const bad of [
      { models: [] },
      { models: { "gpt-4o": 5 } },
      { models: { "gpt-4o": { requests: { limit: -1 } } } },
      { models: { "gpt-4o": { tokens_per_day: { limit: 5, window_ms: 0 } } } },
      { models: { "gpt-4o": { members: "gpt-4o-mini" } } },
      { models: { a: { members: ["x"] }, b: { members: ["x"] } } },
      { models: { a: { members: ["b"] }, b: {} } },
      { chars_per_token: 0 },
      { chars_per_token: "4" },
    ]) {
      const r = await fetch(`${sim.url}/__sim/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(bad) });
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(((await r.json()) as { error: string }).error).toEqual(expect.any(String));
    }
  });
});
