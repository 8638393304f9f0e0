import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { jsonSha, quietTenant, run, trigger, upstreamSince } from "../harness/actions";
import { api, auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { proxyFetch, sha256Hex, simFault, simRequests, type Tenant } from "../harness/connections";

/**
 * Every OpenAI action against the simulator: the input it takes, the one
 * upstream request it makes (method, path, body), and the output it returns.
 */
describe("OpenAI actions (sync)", () => {
  let t: Tenant;
  let key: string;
  /** Upstream requests so far for this key: each test looks only at its own. */
  let seen = 0;
  const mine = async () => {
    const all = await simRequests(key);
    const out = all.slice(seen);
    seen = all.length;
    return out;
  };

  beforeAll(async () => {
    ({ key, t } = await quietTenant());
    seen = (await simRequests(key)).length;
  });

  it("create-response: POST /v1/responses with the input as the body; output_text joined", async () => {
    const input = { model: "gpt-4o-mini", input: "Say hello", max_output_tokens: 64 };
    const out = await run(t, "create-response", input);
    expect(out).toMatchObject({ object: "response", model: "gpt-4o-mini", status: "completed" });
    expect(out.id).toMatch(/^resp_/);
    expect(typeof out.output_text).toBe("string");
    expect((out.output_text as string).length).toBeGreaterThan(0);
    const [req] = await mine();
    expect(req).toMatchObject({ method: "POST", path: "/v1/responses", status: 200, body_sha256: await jsonSha(input) });
    expect(req.headers.authorization).toBe(`Bearer ${key}`);
  });

  it("create-chat-completion: POST /v1/chat/completions", async () => {
    const input = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], temperature: 0.5 };
    const out = await run<{ object: string; choices: { message: { role: string; content: string } }[] }>(t, "create-chat-completion", input);
    expect(out.object).toBe("chat.completion");
    expect(out.choices[0].message.role).toBe("assistant");
    expect(typeof out.choices[0].message.content).toBe("string");
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/chat/completions", body_sha256: await jsonSha(input) }]);
  });

  it("create-embedding: POST /v1/embeddings", async () => {
    const input = { model: "text-embedding-3-small", input: ["a", "b"], dimensions: 8 };
    const out = await run<{ data: { embedding: number[]; index: number }[]; usage: { total_tokens: number } }>(t, "create-embedding", input);
    expect(out.data.map((d) => d.index)).toEqual([0, 1]);
    expect(out.data[0].embedding).toHaveLength(8);
    expect(out.usage.total_tokens).toBeGreaterThan(0);
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/embeddings", body_sha256: await jsonSha(input) }]);
  });

  it("create-moderation: POST /v1/moderations", async () => {
    const input = { input: "I will kill the process" };
    const out = await run<{ results: { flagged: boolean; categories: Record<string, boolean> }[] }>(t, "create-moderation", input);
    expect(out.results[0].flagged).toBe(true);
    expect(out.results[0].categories.violence).toBe(true);
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/moderations", body_sha256: await jsonSha(input) }]);
  });

  it("create-image: POST /v1/images/generations", async () => {
    const input = { prompt: "a red square", n: 2 };
    const out = await run<{ created: number; data: { b64_json: string }[] }>(t, "create-image", input);
    expect(out.data).toHaveLength(2);
    expect(atob(out.data[0].b64_json).slice(1, 4)).toBe("PNG");
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/images/generations", body_sha256: await jsonSha(input) }]);
  });

  it("create-speech: the audio comes back base64 with its content type", async () => {
    const input = { model: "gpt-4o-mini-tts", input: "Hello there", voice: "alloy", response_format: "wav" };
    const out = await run<{ content_type: string; bytes: number; audio_base64: string }>(t, "create-speech", input);
    expect(out.content_type).toBe("audio/wav");
    const audio = Uint8Array.from(atob(out.audio_base64), (c) => c.charCodeAt(0));
    expect(audio.byteLength).toBe(out.bytes);
    expect(out.bytes).toBe(1024 + input.input.length * 64);
    expect(new TextDecoder().decode(audio.slice(0, 3))).toBe("ID3");
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/audio/speech", body_sha256: await jsonSha(input) }]);
  });

  let textFileId = "";
  it("upload-file (text): multipart with the filename, purpose and exact bytes", async () => {
    const content = '{"custom_id":"r1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"x"}}\n';
    const out = await run<{ id: string; bytes: number; filename: string; purpose: string; object: string }>(t, "upload-file", {
      filename: "batch.jsonl",
      purpose: "batch",
      content,
    });
    expect(out).toMatchObject({ object: "file", filename: "batch.jsonl", purpose: "batch", bytes: content.length });
    textFileId = out.id;
    const [req] = await mine();
    expect(req).toMatchObject({ method: "POST", path: "/v1/files", status: 200 });
    expect(req.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    expect(req.body_size).toBeGreaterThan(content.length);
    // The stored file holds exactly the bytes given.
    const stored = await proxyFetch(t, `/v1/files/${out.id}/content`);
    expect(new TextDecoder().decode(await stored.arrayBuffer())).toBe(content);
    await mine();
  });

  it("upload-file (base64): binary content round-trips byte for byte", async () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256);
    const out = await run<{ id: string; bytes: number }>(t, "upload-file", {
      filename: "blob.bin",
      purpose: "user_data",
      content_base64: btoa(String.fromCharCode(...bytes)),
      content_type: "application/octet-stream",
    });
    expect(out.bytes).toBe(300);
    const stored = await proxyFetch(t, `/v1/files/${out.id}/content`);
    expect(await sha256Hex(await stored.arrayBuffer())).toBe(await sha256Hex(bytes));
    await mine();
  });

  it("get-file: GET /v1/files/{id}, no body", async () => {
    const out = await run(t, "get-file", { file_id: textFileId });
    expect(out).toMatchObject({ id: textFileId, object: "file", purpose: "batch" });
    expect(await mine()).toMatchObject([{ method: "GET", path: `/v1/files/${textFileId}`, body_size: 0 }]);
  });

  let batchId = "";
  it("create-batch, get-batch, cancel-batch", async () => {
    const input = { input_file_id: textFileId, endpoint: "/v1/embeddings", completion_window: "24h", metadata: { run: "1" } };
    const created = await run<{ id: string; status: string }>(t, "create-batch", input);
    expect(created).toMatchObject({ object: "batch", status: "validating", input_file_id: textFileId, metadata: { run: "1" } });
    batchId = created.id;
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/batches", body_sha256: await jsonSha(input) }]);

    const got = await run(t, "get-batch", { batch_id: batchId });
    expect(got).toMatchObject({ id: batchId, object: "batch", request_counts: { total: 1 } });
    expect(await mine()).toMatchObject([{ method: "GET", path: `/v1/batches/${batchId}`, body_size: 0 }]);

    const cancelled = await run(t, "cancel-batch", { batch_id: batchId });
    expect(cancelled).toMatchObject({ id: batchId, status: "cancelling" });
    expect(await mine()).toMatchObject([{ method: "POST", path: `/v1/batches/${batchId}/cancel`, body_size: 0 }]);
  });

  it("create-vector-store and search-vector-store (the store id goes in the path, not the body)", async () => {
    const input = { name: "docs", file_ids: [textFileId] };
    const store = await run<{ id: string; file_counts: { total: number } }>(t, "create-vector-store", input);
    expect(store).toMatchObject({ object: "vector_store", name: "docs", status: "completed", file_counts: { total: 1 } });
    expect(await mine()).toMatchObject([{ method: "POST", path: "/v1/vector_stores", body_sha256: await jsonSha(input) }]);

    const out = await run<{ data: { file_id: string; score: number }[] }>(t, "search-vector-store", {
      vector_store_id: store.id,
      query: "what is in the batch",
      max_num_results: 5,
    });
    expect(out).toMatchObject({ object: "vector_store.search_results.page", has_more: false });
    expect(out.data.map((d) => d.file_id)).toEqual([textFileId]);
    expect(await mine()).toMatchObject([
      { method: "POST", path: `/v1/vector_stores/${store.id}/search`, body_sha256: await jsonSha({ query: "what is in the batch", max_num_results: 5 }) },
    ]);
  });

  it("cancel-fine-tuning-job: POST /v1/fine_tuning/jobs/{id}/cancel", async () => {
    const file = await run<{ id: string }>(t, "upload-file", { filename: "train.jsonl", purpose: "fine-tune", content: '{"messages":[]}\n' });
    const created = await proxyFetch(t, "/v1/fine_tuning/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", training_file: file.id }),
    });
    const job = (await created.json()) as { id: string };
    await mine();
    const out = await run(t, "cancel-fine-tuning-job", { fine_tuning_job_id: job.id });
    expect(out).toMatchObject({ id: job.id, object: "fine_tuning.job", status: "cancelled", training_file: file.id });
    expect(await mine()).toMatchObject([{ method: "POST", path: `/v1/fine_tuning/jobs/${job.id}/cancel`, body_size: 0 }]);
  });

  it("list-models: GET /v1/models; input may be left out", async () => {
    const res = await SELF.fetch(`${TERAPI}/action/trigger`, {
      method: "POST",
      headers: { ...auth, ...t.headers, "content-type": "application/json" },
      body: JSON.stringify({ action_name: "list-models" }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { object: string; data: { id: string }[] };
    expect(out.object).toBe("list");
    expect(out.data.map((m) => m.id)).toContain("gpt-4o-mini");
    expect(await mine()).toMatchObject([{ method: "GET", path: "/v1/models", body_size: 0 }]);
  });
});

describe("POST /action/trigger errors", () => {
  it("422 with the schema's issues on bad input, and nothing goes upstream", async () => {
    const { key, t } = await quietTenant();
    const before = (await simRequests(key)).length;
    const cases: [string, unknown, string][] = [
      ["create-embedding", { input: "no model" }, "model"],
      ["create-speech", { model: "tts-1", input: "x", voice: "alloy", response_format: "ogg" }, "response_format"],
      ["upload-file", { filename: "a.txt", purpose: "batch" }, "content"],
      ["upload-file", { filename: "a.txt", purpose: "batch", content: "x", content_base64: "eA==" }, "content"],
      ["get-file", { file_id: "../models" }, "file_id"],
      ["create-response", { model: "gpt-4o-mini", input: "x", stream: true }, "stream"],
      ["search-vector-store", { vector_store_id: "vs_1", query: "q", max_num_results: 99 }, "max_num_results"],
    ];
    for (const [action, input, path] of cases) {
      const res = await trigger(t, action, input);
      expect(res.status, action).toBe(422);
      const body = (await res.json()) as { error: { code: string; details: { path: string; message: string }[] } };
      expect(body.error.code).toBe("invalid_action_input");
      expect(body.error.details.map((d) => d.path)).toContain(path);
    }
    expect(await upstreamSince(key, before)).toEqual([]);
  });

  it("an input nested 20,000 levels deep is a 422 naming the limit, live or async, and nothing goes upstream", async () => {
    const { key, t } = await quietTenant();
    const before = (await simRequests(key)).length;
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const bodies = [
      `{"action_name":"create-response","input":{"model":"gpt-4o-mini","input":[${deep}]}}`,
      `{"action_name":"create-chat-completion","input":{"model":"gpt-4o-mini","messages":[{"role":"user","content":${deep}}]}}`,
    ];
    for (const body of bodies)
      for (const async of ["false", "true"]) {
        const res = await SELF.fetch(`${TERAPI}/action/trigger`, {
          method: "POST",
          headers: { ...auth, ...t.headers, "content-type": "application/json", "x-async": async },
          body,
        });
        expect(res.status).toBe(422);
        const json = (await res.json()) as { error: { code: string; message: string } };
        expect(json.error.code).toBe("invalid_action_input");
        expect(json.error.message).toMatch(/: input: nests deeper than 64 levels \(the limit\)$/);
      }
    expect(await upstreamSince(key, before)).toEqual([]);
  });

  it("unknown action 404, unknown connection 404, missing headers and bad bodies 400", async () => {
    const { t } = await quietTenant();
    const unknown = await trigger(t, "make-coffee", {});
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("unknown_action");

    const noConn = await trigger({ ...t, headers: { ...t.headers, "Connection-Id": "nobody" } }, "list-models", {});
    expect(noConn.status).toBe(404);
    expect(((await noConn.json()) as { error: { code: string } }).error.code).toBe("unknown_connection");

    const noHeaders = await SELF.fetch(`${TERAPI}/action/trigger`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ action_name: "list-models", input: {} }),
    });
    expect(noHeaders.status).toBe(400);

    for (const body of ["{", "[]", JSON.stringify({ input: {} })]) {
      const res = await SELF.fetch(`${TERAPI}/action/trigger`, {
        method: "POST",
        headers: { ...auth, ...t.headers, "content-type": "application/json" },
        body,
      });
      expect(res.status, body).toBe(400);
    }
  });

  it("an upstream 4xx keeps the provider's status and body (and x-request-id)", async () => {
    const { key, t } = await quietTenant();
    const res = await trigger(t, "create-batch", { input_file_id: "file-doesnotexist", endpoint: "/v1/embeddings", completion_window: "24h" });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    const body = (await res.json()) as { error: { message: string; type: string; param: string } };
    expect(body.error).toMatchObject({ type: "invalid_request_error", param: "input_file_id" });
    expect(body.error.message).toContain("file-doesnotexist");

    await simFault({ key, count: 1, status: 400, path_prefix: "/v1/embeddings" });
    const bad = await trigger(t, "create-embedding", { model: "text-embedding-3-small", input: "x" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe("Invalid request (injected fault).");
  });

  it("502 invalid_action_output when the provider's answer does not fit the output schema", async () => {
    const { key, t } = await quietTenant();
    // A 200 with a body that is no list of models.
    await simFault({ key, count: 1, status: 200, path_prefix: "/v1/models" });
    const res = await trigger(t, "list-models", {});
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; details: unknown[] } };
    expect(body.error.code).toBe("invalid_action_output");
    expect(body.error.details.length).toBeGreaterThan(0);
  });

  it("X-Max-Retries: 0 relays a 503 at once; 2 retries it; out of range is a 400", async () => {
    const { key, t } = await quietTenant();
    const before = (await simRequests(key)).length;
    const input = { model: "text-embedding-3-small", input: "retry me" };

    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/embeddings" });
    const none = await trigger(t, "create-embedding", input, { "X-Max-Retries": "0" });
    expect(none.status).toBe(503);
    expect((await upstreamSince(key, before)).map((r) => r.status)).toEqual([503]);

    await simFault({ key, count: 2, status: 503, path_prefix: "/v1/embeddings" });
    const retried = await trigger(t, "create-embedding", input, { "X-Max-Retries": "2" });
    expect(retried.status).toBe(200);
    expect((await upstreamSince(key, before)).map((r) => r.status)).toEqual([503, 503, 503, 200]);

    // Without the header a POST is not re-sent after a 5xx (it may have run).
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/embeddings" });
    expect((await trigger(t, "create-embedding", input)).status).toBe(503);

    for (const bad of ["6", "-1", "two", ""]) {
      const res = await trigger(t, "create-embedding", input, { "X-Max-Retries": bad });
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_max_retries");
    }
    expect((await upstreamSince(key, before)).length).toBe(5);
  });
});

describe("operation log", () => {
  it("a sync run is one 'action' line with its name, status, retries and the provider's request id", async () => {
    const { key, t } = await quietTenant();
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/embeddings" });
    expect((await trigger(t, "create-embedding", { model: "text-embedding-3-small", input: "x" }, { "X-Max-Retries": "1" })).status).toBe(200);
    expect((await trigger(t, "get-file", { file_id: "file-nothere" })).status).toBe(404);
    type Line = { type: string; status: string; http_status: number; retries: number; detail: string; request_id: string | null };
    const lines = await waitFor(async () => {
      const res = await api<{ logs: Line[] }>("GET", `/logs?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&type=action`);
      return res.body.logs.length >= 2 ? res.body.logs : undefined;
    }, "two action lines");
    expect(lines[1]).toMatchObject({ type: "action", status: "success", http_status: 200, retries: 1, detail: "create-embedding" });
    expect(lines[1].request_id).toMatch(/^req_/);
    expect(lines[0]).toMatchObject({ type: "action", status: "failure", http_status: 404, detail: "get-file: upstream_error" });
  });
});

describe("GET /actions and /openapi.json", () => {
  it("lists an integration's actions with JSON Schemas", async () => {
    const { t } = await quietTenant();
    const res = await SELF.fetch(`${TERAPI}/actions?provider_config_key=${t.providerConfigKey}`, { headers: auth });
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as {
      data: { name: string; provider: string; description: string; input_schema: Record<string, unknown>; output_schema: Record<string, unknown> }[];
    };
    expect(data.map((a) => a.name)).toEqual([
      "create-response",
      "create-chat-completion",
      "create-embedding",
      "create-moderation",
      "create-image",
      "create-speech",
      "upload-file",
      "get-file",
      "create-batch",
      "get-batch",
      "cancel-batch",
      "create-vector-store",
      "search-vector-store",
      "cancel-fine-tuning-job",
      "list-models",
    ]);
    const embedding = data.find((a) => a.name === "create-embedding")!;
    expect(embedding.provider).toBe("openai");
    expect(embedding.input_schema).toMatchObject({ type: "object", required: expect.arrayContaining(["model", "input"]) });
    expect(embedding.output_schema).toMatchObject({ type: "object", properties: { data: { type: "array" } } });
    expect(data.find((a) => a.name === "get-file")!.input_schema).toMatchObject({ properties: { file_id: { type: "string" } } });

    const missing = await SELF.fetch(`${TERAPI}/actions?provider_config_key=nope-${Date.now()}`, { headers: auth });
    expect(missing.status).toBe(404);
    const all = await SELF.fetch(`${TERAPI}/actions`, { headers: auth });
    expect(((await all.json()) as { data: unknown[] }).data.length).toBe(15);
  });

  it("documents the routes and every action's input and output as components", async () => {
    const doc = (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { oneOf: unknown[] } }> } }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/action/trigger", "/action/{id}", "/actions"]));
    expect(doc.paths["/action/trigger"].post.requestBody!.content["application/json"].schema.oneOf).toHaveLength(15);
    expect(doc.components.schemas["openai.create-speech.input"]).toMatchObject({ type: "object" });
    expect(doc.components.schemas["openai.create-speech.output"]).toMatchObject({ properties: { audio_base64: { type: "string" } } });
    // Every reference in the document points at a component that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(30);
    for (const name of refs) expect(doc.components.schemas, name).toHaveProperty([name]);
  });
});
