// Contract: every endpoint the simulator serves answers with a body that
// validates against OpenAI's documented schema for that path, method and status.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { client, control, loadOpenApi, newKey, parseSse, startSim } from "./simulator-support.ts";
import type { OpenApi, Reply } from "./simulator-support.ts";

let sim: SimulatorHandle;
let api: OpenApi;
let c: ReturnType<typeof client>;
let admin: ReturnType<typeof client>;

beforeAll(async () => {
  sim = await startSim();
  api = loadOpenApi();
  c = client(sim.url, await newKey(sim.url, { batch_step_ms: 60_000 }));
  admin = client(sim.url, await newKey(sim.url, { kind: "admin" }));
}, 60_000);
afterAll(async () => {
  await sim?.close();
});

function valid(path: string, method: string, r: Reply, status = 200): void {
  expect(r.status, r.text.slice(0, 500)).toBe(status);
  const v = api.response(path, method, status);
  if (!v(r.json)) throw new Error(`${method} ${path} ${status} does not match the schema: ${api.errors(v)}\n${r.text.slice(0, 800)}`);
}

function jsonl(lines: object[]): FormData {
  const fd = new FormData();
  fd.append("purpose", "batch");
  fd.append("file", new Blob([lines.map((l) => JSON.stringify(l)).join("\n") + "\n"], { type: "application/jsonl" }), "input.jsonl");
  return fd;
}

describe("models", () => {
  it("lists and retrieves", async () => {
    valid("/models", "get", await c.get("/v1/models"));
    valid("/models/{model}", "get", await c.get("/v1/models/gpt-4o-mini"));
    valid("/models/{model}", "get", await c.get("/v1/models/nope"), 404);
  });
});

describe("chat completions", () => {
  it("answers JSON", async () => {
    const r = await c.post("/v1/chat/completions", { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hi" }] });
    valid("/chat/completions", "post", r);
    expect((r.json as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toContain("Say hi");
  });
  it("streams chunks that match CreateChatCompletionStreamResponse, ending with [DONE]", async () => {
    const r = await c.post("/v1/chat/completions", {
      model: "gpt-4o-mini",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Tell me a story about streams" }],
    });
    expect(r.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = parseSse(r.text);
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as { choices: Array<{ delta: { content?: string } }>; usage: unknown });
    expect(chunks.length).toBeGreaterThan(4);
    const v = api.response("/chat/completions", "post", 200, "text/event-stream");
    for (const ch of chunks) if (!v(ch)) throw new Error(api.errors(v));
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toBeTruthy();
    expect(chunks.map((ch) => ch.choices[0]?.delta.content ?? "").join("")).toContain("streams");
  });
  it("400 without model, with OpenAI's error shape", async () => {
    const r = await c.post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }] });
    valid("/chat/completions", "post", r, 400);
    expect(r.json).toMatchObject({ error: { type: "invalid_request_error", param: "model" } });
  });
});

describe("responses", () => {
  it("creates and retrieves", async () => {
    const r = await c.post("/v1/responses", { model: "gpt-4o-mini", input: "Write a haiku" });
    valid("/responses", "post", r);
    const id = (r.json as { id: string }).id;
    valid("/responses/{response_id}", "get", await c.get(`/v1/responses/${id}`));
    valid("/responses/{response_id}", "get", await c.get("/v1/responses/resp_nope"), 404);
  });
  it("streams the Responses event sequence, each a ResponseStreamEvent", async () => {
    const r = await c.post("/v1/responses", {
      model: "gpt-4o-mini",
      input: [{ role: "user", content: [{ type: "input_text", text: "Stream please" }] }],
      stream: true,
    });
    const events = parseSse(r.text);
    const types = events.map((e) => e.event);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.filter((t) => t === "response.output_text.delta").length).toBeGreaterThan(2);
    expect(types.slice(-5)).toEqual([
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const v = api.response("/responses", "post", 200, "text/event-stream");
    events.forEach((e, i) => {
      const data = JSON.parse(e.data) as { type: string; sequence_number: number };
      expect(data.type).toBe(e.event);
      expect(data.sequence_number).toBe(i);
      const member = api.responseEvent(data.type);
      if (!member(data)) throw new Error(`${e.event}: ${api.errors(member)}`);
      if (!v(data)) throw new Error(`${e.event}: ${api.errors(v)}`);
    });
  });
});

describe("embeddings, moderations, images, speech", () => {
  it("embeddings are deterministic floats (and base64)", async () => {
    const a = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: ["hello", "world"] });
    valid("/embeddings", "post", a);
    const b = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: ["hello", "world"] });
    const vec = (r: Reply) => (r.json as { data: Array<{ embedding: number[] }> }).data[0].embedding;
    expect(vec(a)).toEqual(vec(b));
    expect(vec(a)).toHaveLength(1536);
    const b64 = await c.post("/v1/embeddings", { model: "text-embedding-3-small", input: "hello", encoding_format: "base64" });
    const buf = Buffer.from((b64.json as { data: Array<{ embedding: string }> }).data[0].embedding, "base64");
    expect(Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4))).toEqual(vec(a));
  });
  it("moderations", async () => {
    valid("/moderations", "post", await c.post("/v1/moderations", { input: ["I will kill the process", "hello"] }));
  });
  it("images as b64_json", async () => {
    const r = await c.post("/v1/images/generations", { model: "gpt-image-1", prompt: "a cat", n: 2 });
    valid("/images/generations", "post", r);
    const png = Buffer.from((r.json as { data: Array<{ b64_json: string }> }).data[0].b64_json, "base64");
    expect(png.subarray(1, 4).toString()).toBe("PNG");
  });
  it("speech returns audio bytes", async () => {
    const r = await fetch(`${sim.url}/v1/audio/speech`, {
      method: "POST",
      headers: { authorization: `Bearer ${await newKey(sim.url)}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "tts-1", voice: "alloy", input: "Hello" }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("audio/mpeg");
    const bytes = Buffer.from(await r.arrayBuffer());
    expect(bytes.subarray(0, 3).toString()).toBe("ID3");
  });
});

describe("files", () => {
  it("upload, list, retrieve, content, delete", async () => {
    const fd = new FormData();
    fd.append("purpose", "user_data");
    fd.append("file", new Blob(["hello file"], { type: "text/plain" }), "hello.txt");
    const up = await c.post("/v1/files", fd);
    valid("/files", "post", up);
    const id = (up.json as { id: string }).id;
    valid("/files", "get", await c.get("/v1/files?limit=5"));
    valid("/files/{file_id}", "get", await c.get(`/v1/files/${id}`));
    const content = await c.get(`/v1/files/${id}/content`);
    expect(content.text).toBe("hello file");
    expect(content.headers.get("content-type")).toBe("text/plain");
    valid("/files/{file_id}", "delete", await c.del(`/v1/files/${id}`));
    valid("/files/{file_id}", "get", await c.get(`/v1/files/${id}`), 404);
  });
});

describe("batches", () => {
  it("create, list, retrieve, cancel", async () => {
    const up = await c.post(
      "/v1/files",
      jsonl([{ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] } }]),
    );
    const fileId = (up.json as { id: string }).id;
    const b = await c.post("/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" });
    valid("/batches", "post", b);
    const id = (b.json as { id: string }).id;
    valid("/batches", "get", await c.get("/v1/batches?limit=2"));
    valid("/batches/{batch_id}", "get", await c.get(`/v1/batches/${id}`));
    valid("/batches/{batch_id}/cancel", "post", await c.post(`/v1/batches/${id}/cancel`));
    const done = await control<{ status: string }>(sim.url, "POST", "/__sim/advance", { key: c.key, batch_id: id });
    expect(done.status).toBe("cancelled");
    valid("/batches/{batch_id}", "get", await c.get(`/v1/batches/${id}`));
    valid("/batches", "post", await c.post("/v1/batches", { input_file_id: "file-nope", endpoint: "/v1/chat/completions", completion_window: "24h" }), 404);
  });
});

describe("fine-tuning", () => {
  it("create, list, retrieve, cancel", async () => {
    const fd = new FormData();
    fd.append("purpose", "fine-tune");
    fd.append("file", new Blob(['{"messages":[]}\n']), "train.jsonl");
    const fileId = ((await c.post("/v1/files", fd)).json as { id: string }).id;
    const j = await c.post("/v1/fine_tuning/jobs", { model: "gpt-4o-mini-2024-07-18", training_file: fileId });
    valid("/fine_tuning/jobs", "post", j);
    const id = (j.json as { id: string }).id;
    valid("/fine_tuning/jobs", "get", await c.get("/v1/fine_tuning/jobs?limit=3"));
    await control(sim.url, "POST", "/__sim/advance", { key: c.key, job_id: id });
    valid("/fine_tuning/jobs/{fine_tuning_job_id}", "get", await c.get(`/v1/fine_tuning/jobs/${id}`));
    valid("/fine_tuning/jobs/{fine_tuning_job_id}/cancel", "post", await c.post(`/v1/fine_tuning/jobs/${id}/cancel`));
    const j2 = await c.post("/v1/fine_tuning/jobs", { model: "gpt-4o-mini-2024-07-18", training_file: fileId });
    const id2 = (j2.json as { id: string }).id;
    for (let i = 0; i < 3; i++) await control(sim.url, "POST", "/__sim/advance", { key: c.key, job_id: id2 });
    const ok = await c.get(`/v1/fine_tuning/jobs/${id2}`);
    valid("/fine_tuning/jobs/{fine_tuning_job_id}", "get", ok);
    expect(ok.json).toMatchObject({ status: "succeeded", fine_tuned_model: expect.stringMatching(/^ft:/) });
  });
});

describe("vector stores", () => {
  it("create, list, retrieve, modify, search, delete", async () => {
    const v = await c.post("/v1/vector_stores", { name: "docs", metadata: { team: "a" } });
    valid("/vector_stores", "post", v);
    const id = (v.json as { id: string }).id;
    valid("/vector_stores", "get", await c.get("/v1/vector_stores?limit=2"));
    valid("/vector_stores/{vector_store_id}", "get", await c.get(`/v1/vector_stores/${id}`));
    valid("/vector_stores/{vector_store_id}", "post", await c.post(`/v1/vector_stores/${id}`, { name: "renamed" }));
    const s1 = await c.post(`/v1/vector_stores/${id}/search`, { query: "refund policy" });
    valid("/vector_stores/{vector_store_id}/search", "post", s1);
    const s2 = await c.post(`/v1/vector_stores/${id}/search`, { query: "refund policy" });
    expect(s2.json).toEqual(s1.json);
    valid("/vector_stores/{vector_store_id}", "delete", await c.del(`/v1/vector_stores/${id}`));
  });
});

describe("admin", () => {
  it("projects, users, costs", async () => {
    await control(sim.url, "POST", "/__sim/seed", { key: admin.key, projects: 3, users: 3, cost_days: 10 });
    valid("/organization/projects", "get", await admin.get("/v1/organization/projects?limit=2"));
    valid("/organization/users", "get", await admin.get("/v1/organization/users?limit=2"));
    const start = Math.floor(Date.now() / 1000) - 20 * 86_400;
    const costs = await admin.get(`/v1/organization/costs?start_time=${start}&limit=30`);
    valid("/organization/costs", "get", costs);
    valid("/organization/costs", "get", await admin.get("/v1/organization/costs"), 400);
  });
});
