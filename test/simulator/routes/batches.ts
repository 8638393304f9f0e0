import type { Ctx, Route } from "../http.ts";
import { missingParam, notFound, parseLimit, sendError, sendJson } from "../http.ts";
import type { LifecycleRec, SimState, Tenant } from "../state.ts";
import { newId, nowSec, str } from "../util.ts";
import { emitEvent } from "../webhooks.ts";
import { chatCompletion } from "./chat.ts";
import { embed } from "./embeddings.ts";
import { addFile, fileContent } from "./files.ts";
import { responseObject } from "./responses.ts";
import { isObj } from "../util.ts";
import type { Obj } from "../util.ts";

const ENDPOINTS = new Set(["/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations"]);
const TERMINAL = new Set(["completed", "failed", "expired", "cancelled"]);
export const BATCH_TARGETS = ["in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"];

function outputFor(line: unknown, endpoint: string): string {
  const l = isObj(line) ? line : {};
  const body = isObj(l.body) ? l.body : {};
  const model = typeof body.model === "string" ? body.model : "gpt-4o-mini";
  let out: object;
  if (endpoint === "/v1/chat/completions") out = chatCompletion(body, model);
  else if (endpoint === "/v1/responses") out = responseObject(body, model);
  else if (endpoint === "/v1/embeddings")
    out = {
      object: "list",
      data: [{ object: "embedding", index: 0, embedding: Array.from(embed(String(body.input ?? ""), 8)) }],
      model,
      usage: { prompt_tokens: 1, total_tokens: 1 },
    };
  else out = { object: "simulated" };
  return JSON.stringify({
    id: newId("batch_req_", 32),
    custom_id: l.custom_id ?? null,
    response: { status_code: 200, request_id: newId("req_", 32), body: out },
    error: null,
  });
}

function finish(sim: SimState, t: Tenant, b: LifecycleRec, status: string): void {
  const o = b.obj;
  const now = nowSec();
  o.status = status;
  o[`${status}_at`] = now;
  if (status === "completed") {
    const lines = b.lines ?? [];
    const content = Buffer.from(lines.map((l) => outputFor(l, String(o.endpoint)) + "\n").join(""));
    o.output_file_id = addFile(t, `${b.id}_output.jsonl`, "batch_output", content, "application/jsonl").id;
    o.request_counts = { total: lines.length, completed: lines.length, failed: 0 };
    o.usage = {
      input_tokens: lines.length * 10,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: lines.length * 20,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: lines.length * 30,
    };
  } else if (status === "failed") {
    o.errors = { object: "list", data: [{ code: "simulated_failure", message: "The batch failed (simulated).", param: null, line: null }] };
  }
  sim.cancel(b.timer);
  b.timer = undefined;
  emitEvent(t, `batch.${status}`, b.id);
}

/** Moves a batch to `to` (or its next state) now, and schedules the step after. */
export function advanceBatch(sim: SimState, t: Tenant, b: LifecycleRec, to?: string): string | null {
  const o = b.obj;
  const cur = String(o.status);
  if (TERMINAL.has(cur)) return `batch is already ${cur}`;
  const next =
    to ?? ({ validating: "in_progress", in_progress: "finalizing", finalizing: "completed", cancelling: "cancelled" } as Record<string, string>)[cur];
  if (!next || !BATCH_TARGETS.includes(next)) return `cannot move batch to ${String(to)}`;
  sim.cancel(b.timer);
  b.timer = undefined;
  if (TERMINAL.has(next)) {
    finish(sim, t, b, next);
    return null;
  }
  o.status = next;
  o[`${next}_at`] = nowSec();
  if (next === "finalizing") o.request_counts = { total: b.lines?.length ?? 0, completed: b.lines?.length ?? 0, failed: 0 };
  schedule(sim, t, b);
  return null;
}

function schedule(sim: SimState, t: Tenant, b: LifecycleRec): void {
  b.timer = sim.schedule(t.batchStepMs, () => {
    b.timer = undefined;
    advanceBatch(sim, t, b);
  });
}

export function batchObject(
  _t: Tenant,
  fields: {
    endpoint: string;
    input_file_id: string;
    completion_window: string;
    metadata?: Obj | null;
    total: number;
    status?: string;
    created_at?: number;
    id?: string;
    model?: string;
  },
): Obj {
  const created = fields.created_at ?? nowSec();
  return {
    id: fields.id ?? newId("batch_", 32),
    object: "batch",
    endpoint: fields.endpoint,
    model: fields.model ?? "gpt-4o-mini",
    input_file_id: fields.input_file_id,
    completion_window: fields.completion_window,
    status: fields.status ?? "validating",
    created_at: created,
    expires_at: created + 86_400,
    request_counts: { total: fields.total, completed: 0, failed: 0 },
    metadata: fields.metadata ?? null,
  };
}

function find(ctx: Ctx): LifecycleRec | undefined {
  const b = ctx.tenant.batches.get(ctx.params.id);
  if (!b) notFound(ctx, "Batch", ctx.params.id, "batch_id");
  return b;
}

export const batchRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/batches",
    handler: (ctx) => {
      const b = ctx.json;
      const inputFileId = str(b, "input_file_id");
      const endpoint = str(b, "endpoint");
      const window = str(b, "completion_window");
      if (!inputFileId) return missingParam(ctx, "input_file_id");
      if (!endpoint) return missingParam(ctx, "endpoint");
      if (!window) return missingParam(ctx, "completion_window");
      if (!ENDPOINTS.has(endpoint))
        return sendError(
          ctx,
          400,
          `Invalid value for 'endpoint': '${endpoint}'. Supported values are: ${[...ENDPOINTS].map((e) => `'${e}'`).join(", ")}.`,
          "invalid_request_error",
          "endpoint",
          "invalid_value",
        );
      if (window !== "24h")
        return sendError(
          ctx,
          400,
          `Invalid value for 'completion_window': '${window}'. Supported values are: '24h'.`,
          "invalid_request_error",
          "completion_window",
          "invalid_value",
        );
      const file = ctx.tenant.files.get(inputFileId);
      if (!file) return notFound(ctx, "File", inputFileId, "input_file_id");
      if (file.purpose !== "batch")
        return sendError(
          ctx,
          400,
          `Invalid 'input_file_id': file ${inputFileId} has purpose '${file.purpose}', expected 'batch'.`,
          "invalid_request_error",
          "input_file_id",
          "invalid_value",
        );
      const lines: unknown[] = [];
      for (const raw of fileContent(file).toString("utf8").split("\n")) {
        if (!raw.trim()) continue;
        try {
          lines.push(JSON.parse(raw));
        } catch {
          lines.push(null);
        }
      }
      const firstBody = isObj(lines[0]) && isObj(lines[0].body) ? lines[0].body : {};
      const obj = batchObject(ctx.tenant, {
        endpoint,
        input_file_id: inputFileId,
        completion_window: window,
        metadata: isObj(b.metadata) ? b.metadata : null,
        total: lines.length,
        model: str(firstBody, "model"),
      });
      const rec: LifecycleRec = { id: obj.id as string, obj, lines };
      ctx.tenant.batches.add(rec);
      schedule(ctx.sim, ctx.tenant, rec);
      sendJson(ctx, 200, obj);
    },
  },
  {
    method: "GET",
    path: "/v1/batches",
    handler: (ctx) => {
      const limit = parseLimit(ctx, 20, 100);
      if (limit === null) return;
      const page = ctx.tenant.batches.page({ after: ctx.query.get("after") ?? undefined, limit, order: "desc" });
      const data = page.data.map((b) => b.obj);
      sendJson(ctx, 200, { object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: page.has_more });
    },
  },
  {
    method: "GET",
    path: "/v1/batches/:id",
    handler: (ctx) => {
      const b = find(ctx);
      if (b) sendJson(ctx, 200, b.obj);
    },
  },
  {
    method: "POST",
    path: "/v1/batches/:id/cancel",
    handler: (ctx) => {
      const b = find(ctx);
      if (!b) return;
      const s = String(b.obj.status);
      if (TERMINAL.has(s) || s === "cancelling") return sendError(ctx, 409, `Cannot cancel a batch with status '${s}'.`, "invalid_request_error", null, null);
      advanceBatch(ctx.sim, ctx.tenant, b, "cancelling");
      sendJson(ctx, 200, b.obj);
    },
  },
];
