// The simulator reports `usage` as OpenAI does (JSON, streams of both APIs,
// embeddings), with deterministic cached and reasoning token details: terapi's
// usage tests sum what it reports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { client, loadOpenApi, newKey, parseSse, startSim } from "./simulator-support.ts";
import type { OpenApi, Reply } from "./simulator-support.ts";

let sim: SimulatorHandle;
let api: OpenApi;

beforeAll(async () => {
  sim = await startSim();
  api = loadOpenApi();
}, 60_000);
afterAll(async () => {
  await sim?.close();
});

const fresh = async () => client(sim.url, await newKey(sim.url));

function valid(path: string, r: Reply): void {
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  const v = api.response(path, "post", 200);
  if (!v(r.json)) throw new Error(`${path}: ${api.errors(v)}`);
}

type ChatUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
};
type ResponsesUsage = {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
};

describe("chat completions usage", () => {
  it("a prompt the key already sent is all cached; a fresh one is not", async () => {
    const c = await fresh();
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Cache me if you can" }] };
    const first = await c.post("/v1/chat/completions", body);
    valid("/chat/completions", first);
    const u1 = (first.json as { usage: ChatUsage }).usage;
    expect(u1.prompt_tokens).toBeGreaterThan(0);
    expect(u1.prompt_tokens_details.cached_tokens).toBe(0);
    expect(u1.completion_tokens_details.reasoning_tokens).toBe(0);
    expect(u1.total_tokens).toBe(u1.prompt_tokens + u1.completion_tokens);

    const again = await c.post("/v1/chat/completions", body);
    valid("/chat/completions", again);
    const u2 = (again.json as { usage: ChatUsage }).usage;
    expect(u2.prompt_tokens_details.cached_tokens).toBe(u2.prompt_tokens);

    // Another key has its own cache.
    const other = await (await fresh()).post("/v1/chat/completions", body);
    expect((other.json as { usage: ChatUsage }).usage.prompt_tokens_details.cached_tokens).toBe(0);
  });

  it("reasoning models report reasoning tokens inside the completion tokens", async () => {
    const c = await fresh();
    for (const model of ["o3-mini", "gpt-5-mini"]) {
      const r = await c.post("/v1/chat/completions", { model, messages: [{ role: "user", content: `Think about ${model}` }] });
      valid("/chat/completions", r);
      const u = (r.json as { usage: ChatUsage }).usage;
      expect(u.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
      // Twice the visible answer, counted in completion_tokens.
      expect(u.completion_tokens).toBe(3 * (u.completion_tokens_details.reasoning_tokens / 2));
    }
  });

  it("a stream with include_usage ends with a usage chunk equal to the JSON answer's usage", async () => {
    const c = await fresh();
    const body = { model: "o4-mini", messages: [{ role: "user", content: "Stream my usage" }] };
    const json = await c.post("/v1/chat/completions", body);
    const streamed = await c.post("/v1/chat/completions", { ...body, stream: true, stream_options: { include_usage: true } });
    const chunks = parseSse(streamed.text)
      .slice(0, -1)
      .map((e) => JSON.parse(e.data) as { usage: ChatUsage | null });
    const v = api.response("/chat/completions", "post", 200, "text/event-stream");
    for (const ch of chunks) if (!v(ch)) throw new Error(api.errors(v));
    expect(chunks.slice(0, -1).every((ch) => ch.usage === null)).toBe(true);
    const last = chunks.at(-1)?.usage as ChatUsage;
    // Same prompt a second time: cached.
    expect(last).toEqual({ ...(json.json as { usage: ChatUsage }).usage, prompt_tokens_details: { cached_tokens: last.prompt_tokens, audio_tokens: 0 } });
    expect(last.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  });

  it("a stream without include_usage carries no usage at all", async () => {
    const c = await fresh();
    const r = await c.post("/v1/chat/completions", { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "no usage" }] });
    expect(r.text).not.toContain('"usage":');
  });
});

describe("responses usage", () => {
  it("JSON and the stream's response.completed report the same counts (cached on repeat, reasoning for gpt-5)", async () => {
    const c = await fresh();
    const body = { model: "gpt-5", input: "Reason and cache" };
    const json = await c.post("/v1/responses", body);
    valid("/responses", json);
    const u = (json.json as { usage: ResponsesUsage }).usage;
    expect(u.input_tokens_details.cached_tokens).toBe(0);
    expect(u.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(u.total_tokens).toBe(u.input_tokens + u.output_tokens);

    const s = await c.post("/v1/responses", { ...body, stream: true });
    const completed = parseSse(s.text).find((e) => e.event === "response.completed");
    const data = JSON.parse(completed?.data ?? "null") as { response: { usage: ResponsesUsage } };
    const member = api.responseEvent("response.completed");
    if (!member(data)) throw new Error(api.errors(member));
    expect(data.response.usage).toEqual({ ...u, input_tokens_details: { cached_tokens: u.input_tokens, cache_write_tokens: 0 } });
  });
});

describe("embeddings usage", () => {
  it("reports prompt_tokens = total_tokens", async () => {
    const c = await fresh();
    const r = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: ["count", "these tokens"] });
    valid("/embeddings", r);
    const u = (r.json as { usage: { prompt_tokens: number; total_tokens: number } }).usage;
    expect(u.prompt_tokens).toBeGreaterThan(1);
    expect(u.total_tokens).toBe(u.prompt_tokens);
  });
});
