// Files (binary multipart), pagination walks, batch/job lifecycles, webhooks, seeding and mutation.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulatorHandle } from "../simulator/server.ts";
import { waitFor } from "../harness/wait.ts";
import { client, control, newKey, startSim } from "./simulator-support.ts";

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim?.close();
});

type Page = { data: Array<{ id: string }>; has_more: boolean; first_id?: string | null; last_id?: string | null };

/** Walks an after/has_more list to the end. */
async function walk(c: ReturnType<typeof client>, path: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await c.get(`${path}${sep}limit=${limit}${after ? `&after=${after}` : ""}`);
    expect(r.status, r.text).toBe(200);
    const page = r.json as Page;
    ids.push(...page.data.map((d) => d.id));
    if (!page.has_more) return ids;
    after = page.data[page.data.length - 1].id;
  }
  throw new Error("pagination did not end");
}

function batchInput(n: number): FormData {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `r${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `q${i}` }] },
    }),
  );
  const fd = new FormData();
  fd.append("purpose", "batch");
  fd.append("file", new Blob([lines.join("\n") + "\n"]), "in.jsonl");
  return fd;
}

describe("files", () => {
  it("multipart upload of 5 MB random binary, byte-exact download", async () => {
    const c = client(sim.url, await newKey(sim.url));
    const bytes = randomBytes(5 * 1024 * 1024);
    // Make sure the payload contains CRLFs and boundary-looking bytes.
    bytes.write("\r\n--\r\n\r\n------", 1000, "latin1");
    const fd = new FormData();
    fd.append("purpose", "user_data");
    fd.append("file", new Blob([bytes], { type: "application/octet-stream" }), "blob.bin");
    const up = await c.post("/v1/files", fd);
    expect(up.status, up.text).toBe(200);
    const f = up.json as { id: string; bytes: number; filename: string; purpose: string };
    expect(f).toMatchObject({ bytes: bytes.length, filename: "blob.bin", purpose: "user_data" });
    const r = await fetch(`${sim.url}/v1/files/${f.id}/content`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(r.headers.get("content-type")).toBe("application/octet-stream");
    const back = Buffer.from(await r.arrayBuffer());
    expect(back.length).toBe(bytes.length);
    expect(back.equals(bytes)).toBe(true);
  });

  it("list: after/limit/order/purpose with first_id, last_id, has_more", async () => {
    const key = await newKey(sim.url);
    const c = client(sim.url, key);
    await control(sim.url, "POST", "/__sim/seed", { key, files: 25 });
    const all = (await c.get("/v1/files")).json as Page;
    expect(all.data).toHaveLength(25);
    const walked = await walk(c, "/v1/files", 7);
    expect(walked).toEqual(all.data.map((d) => d.id));
    const asc = await walk(c, "/v1/files?order=asc", 10);
    expect(asc).toEqual([...walked].reverse());
    const page = (await c.get("/v1/files?limit=3")).json as Page;
    expect(page.first_id).toBe(page.data[0].id);
    expect(page.last_id).toBe(page.data[2].id);
    expect(page.has_more).toBe(true);
    const batchOnly = (await c.get("/v1/files?purpose=batch")).json as { data: Array<{ purpose: string }> };
    expect(batchOnly.data.length).toBe(5);
    expect(batchOnly.data.every((f) => f.purpose === "batch")).toBe(true);
  });
});

describe("pagination walks over seeded data", () => {
  it("batches, fine-tuning jobs, vector stores, projects, users, costs", async () => {
    const key = await newKey(sim.url, { kind: "admin" });
    const c = client(sim.url, key);
    await control(sim.url, "POST", "/__sim/seed", { key, batches: 45, fine_tuning_jobs: 33, vector_stores: 21, projects: 12, users: 9, cost_days: 20 });
    for (const [path, n] of [
      ["/v1/batches", 45],
      ["/v1/fine_tuning/jobs", 33],
      ["/v1/vector_stores", 21],
      ["/v1/organization/projects", 13],
      ["/v1/organization/users", 10],
    ] as const) {
      const ids = await walk(c, path, 4);
      expect(ids, path).toHaveLength(n);
      expect(new Set(ids).size, path).toBe(n);
    }
    // Costs: page / next_page tokens over daily buckets.
    const start = Math.floor(Date.now() / 1000 / 86_400) * 86_400 - 29 * 86_400;
    const buckets: Array<{ start_time: number; results: unknown[] }> = [];
    let page: string | null = null;
    do {
      const r = await c.get(`/v1/organization/costs?start_time=${start}&limit=7${page ? `&page=${page}` : ""}`);
      expect(r.status, r.text).toBe(200);
      const body = r.json as { data: typeof buckets; has_more: boolean; next_page: string | null };
      buckets.push(...body.data);
      expect(body.has_more).toBe(body.next_page !== null);
      page = body.next_page;
    } while (page);
    expect(buckets).toHaveLength(30);
    expect(buckets.map((b) => b.start_time)).toEqual(Array.from({ length: 30 }, (_, i) => start + i * 86_400));
    expect(buckets.filter((b) => b.results.length).length).toBe(20);
  });
});

describe("batches", () => {
  it("validating → in_progress → finalizing → completed via /__sim/advance, with counts and output", async () => {
    const key = await newKey(sim.url, { batch_step_ms: 60_000 });
    const c = client(sim.url, key);
    const fileId = ((await c.post("/v1/files", batchInput(3))).json as { id: string }).id;
    const b = (await c.post("/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })).json as {
      id: string;
      status: string;
      request_counts: object;
    };
    expect(b.status).toBe("validating");
    expect(b.request_counts).toEqual({ total: 3, completed: 0, failed: 0 });
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push((await control<{ status: string }>(sim.url, "POST", "/__sim/advance", { key, batch_id: b.id })).status);
    expect(seen).toEqual(["in_progress", "finalizing", "completed"]);
    const done = (await c.get(`/v1/batches/${b.id}`)).json as { status: string; output_file_id: string; request_counts: object; completed_at: number };
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 3, completed: 3, failed: 0 } });
    const out = (await c.get(`/v1/files/${done.output_file_id}/content`)).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number } });
    expect(out.map((o) => o.custom_id)).toEqual(["r0", "r1", "r2"]);
    expect(out[0].response.status_code).toBe(200);
    const again = await fetch(`${sim.url}/__sim/advance`, { method: "POST", body: JSON.stringify({ key, batch_id: b.id }) });
    expect(again.status).toBe(409);
  });

  it("moves on its own every batch_step_ms", async () => {
    const key = await newKey(sim.url, { batch_step_ms: 30 });
    const c = client(sim.url, key);
    const fileId = ((await c.post("/v1/files", batchInput(1))).json as { id: string }).id;
    const b = (await c.post("/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })).json as { id: string };
    let status = "";
    for (let i = 0; i < 100 && status !== "completed"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = ((await c.get(`/v1/batches/${b.id}`)).json as { status: string }).status;
    }
    expect(status).toBe("completed");
  });
});

describe("webhooks", () => {
  it("signed per Standard Webhooks, recorded, and delivered to the configured url", async () => {
    const received: Array<{ headers: Record<string, string>; body: string }> = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    try {
      const key = await newKey(sim.url, { batch_step_ms: 60_000 });
      const secret = "whsec_" + randomBytes(24).toString("base64");
      const cfg = await control<{ secret: string }>(sim.url, "POST", "/__sim/webhooks", {
        key,
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        secret,
      });
      expect(cfg.secret).toBe(secret);
      const c = client(sim.url, key);
      const fileId = ((await c.post("/v1/files", batchInput(1))).json as { id: string }).id;
      const b = (await c.post("/v1/batches", { input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })).json as { id: string };
      await control(sim.url, "POST", "/__sim/advance", { key, batch_id: b.id, to: "completed" });
      const tune = new FormData();
      tune.append("purpose", "fine-tune");
      tune.append("file", new Blob(["{}\n"]), "t.jsonl");
      const tf = ((await c.post("/v1/files", tune)).json as { id: string }).id;
      const j = (await c.post("/v1/fine_tuning/jobs", { model: "gpt-4o-mini", training_file: tf })).json as { id: string };
      await c.post(`/v1/fine_tuning/jobs/${j.id}/cancel`);
      const events = await control<Array<{ id: string; headers: Record<string, string>; body: string }>>(sim.url, "GET", `/__sim/webhooks?key=${key}`);
      expect(events.map((e) => JSON.parse(e.body) as { type: string; data: { id: string } }).map((e) => [e.type, e.data.id])).toEqual([
        ["batch.completed", b.id],
        ["fine_tuning.job.cancelled", j.id],
      ]);
      const wh = new Webhook(secret);
      for (const e of events) {
        expect(e.headers["webhook-signature"]).toMatch(/^v1,/);
        const payload = wh.verify(e.body, e.headers) as { id: string; object: string; created_at: number };
        expect(payload).toMatchObject({ id: expect.stringMatching(/^evt_/), object: "event" });
        expect(() => new Webhook("whsec_" + randomBytes(24).toString("base64")).verify(e.body, e.headers)).toThrow();
      }
      await waitFor(async () => received.length >= 2, "the simulator's two webhooks at the receiver");
      expect(received.map((r) => r.body)).toEqual(events.map((e) => e.body));
      expect(() => wh.verify(received[0].body, received[0].headers)).not.toThrow();
    } finally {
      receiver.close();
    }
  });
});

describe("seeding and mutation", () => {
  // How fast seeding is belongs to a benchmark, not to a bound here (a loaded machine would fail it).
  it("seeds 50,000 files and lists them all", async () => {
    const key = await newKey(sim.url);
    await control(sim.url, "POST", "/__sim/seed", { key, files: 50_000 });
    const c = client(sim.url, key);
    const ids = await walk(c, "/v1/files", 10_000);
    expect(ids).toHaveLength(50_000);
    expect(new Set(ids).size).toBe(50_000);
  });

  it("mutate updates and removes, by ids or count", async () => {
    const key = await newKey(sim.url);
    const c = client(sim.url, key);
    await control(sim.url, "POST", "/__sim/seed", { key, files: 10, vector_stores: 3 });
    const before = ((await c.get("/v1/files?order=asc")).json as { data: Array<{ id: string; filename: string }> }).data;
    const m = await control<{ updated: string[]; removed: string[] }>(sim.url, "POST", "/__sim/mutate", {
      key,
      model: "files",
      update: 2,
      remove: [before[9].id],
    });
    expect(m).toEqual({ updated: [before[0].id, before[1].id], removed: [before[9].id] });
    const after = ((await c.get("/v1/files?order=asc")).json as { data: Array<{ id: string; filename: string }> }).data;
    expect(after).toHaveLength(9);
    expect(after[0].filename).not.toBe(before[0].filename);
    expect(after[2]).toEqual(before[2]);
    expect((await c.get(`/v1/files/${before[9].id}`)).status).toBe(404);
    const vs = await control<{ updated: string[]; removed: string[] }>(sim.url, "POST", "/__sim/mutate", { key, model: "vector_stores", remove: 1 });
    expect(vs.removed).toHaveLength(1);
    expect(((await c.get("/v1/vector_stores")).json as Page).data).toHaveLength(2);
  });
});
