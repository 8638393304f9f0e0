import type { Ctx, Route } from "../http.ts";
import { sendError, sendJson } from "../http.ts";
import { streamSse } from "../sse.ts";
import type { SseEvent } from "../sse.ts";
import { complete, estimateTokens } from "../text.ts";
import type { Completion } from "../text.ts";
import { countTokens, responsesUsage } from "../usage.ts";
import type { TokenCounts } from "../usage.ts";
import { isObj, newId, num, nowSec, str } from "../util.ts";
import type { Obj } from "../util.ts";

function baseResponse(body: Obj, model: string, id: string, created: number): Obj {
  return {
    id,
    object: "response",
    created_at: created,
    status: "in_progress",
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: typeof body.instructions === "string" ? body.instructions : null,
    max_output_tokens: num(body, "max_output_tokens") ?? null,
    model,
    output: [],
    parallel_tool_calls: true,
    previous_response_id: str(body, "previous_response_id") ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: "default",
    store: body.store !== false,
    temperature: num(body, "temperature") ?? 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: num(body, "top_p") ?? 1,
    truncation: "disabled",
    metadata: isObj(body.metadata) ? body.metadata : {},
  };
}

function message(msgId: string, text: string, status: "in_progress" | "completed"): Obj {
  return {
    id: msgId,
    type: "message",
    status,
    role: "assistant",
    content: status === "completed" ? [{ type: "output_text", text, annotations: [], logprobs: [] }] : [],
  };
}

/** A completed Response object for a request body (also used by batches, which pass no cache owner). */
export function responseObject(body: Obj, model: string, cacheOwner?: object): Obj {
  const c = complete(body);
  return finish(baseResponse(body, model, newId("resp_", 48), nowSec()), c, newId("msg_", 48), countTokens(c, body, model, cacheOwner));
}

function finish(r: Obj, c: Completion, msgId: string, tokens: TokenCounts): Obj {
  return {
    ...r,
    status: c.truncated ? "incomplete" : "completed",
    incomplete_details: c.truncated ? { reason: "max_output_tokens" } : null,
    completed_at: nowSec(),
    output: [message(msgId, c.text, "completed")],
    usage: responsesUsage(tokens),
  };
}

function validate(ctx: Ctx): boolean {
  if (!str(ctx.json, "model")) {
    sendError(ctx, 400, "Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter");
    return false;
  }
  const input = ctx.json.input;
  if (input !== undefined && typeof input !== "string" && !Array.isArray(input)) {
    sendError(ctx, 400, "Invalid type for 'input': expected one of a string or array of input items.", "invalid_request_error", "input", "invalid_type");
    return false;
  }
  return true;
}

function stream(ctx: Ctx, model: string): Promise<void> {
  const c = complete(ctx.json);
  const id = newId("resp_", 48);
  const msgId = newId("msg_", 48);
  const base = baseResponse(ctx.json, model, id, nowSec());
  const done = finish(base, c, msgId, countTokens(c, ctx.json, model, ctx.tenant));
  if (done.store) ctx.tenant.responses.set(id, done);
  let seq = 0;
  const events: SseEvent[] = [];
  const push = (type: string, payload: Obj) => events.push({ event: type, data: JSON.stringify({ type, sequence_number: seq++, ...payload }) });
  const where = { item_id: msgId, output_index: 0, content_index: 0 };
  push("response.created", { response: base });
  push("response.in_progress", { response: base });
  push("response.output_item.added", { output_index: 0, item: message(msgId, "", "in_progress") });
  push("response.content_part.added", { ...where, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });
  for (const d of c.chunks) push("response.output_text.delta", { ...where, delta: d, logprobs: [] });
  push("response.output_text.done", { ...where, text: c.text, logprobs: [] });
  push("response.content_part.done", { ...where, part: { type: "output_text", text: c.text, annotations: [], logprobs: [] } });
  push("response.output_item.done", { output_index: 0, item: message(msgId, c.text, "completed") });
  push(c.truncated ? "response.incomplete" : "response.completed", { response: done });
  return streamSse(ctx, events);
}

export const responseRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/responses",
    tokens: estimateTokens,
    handler: (ctx) => {
      if (!validate(ctx)) return;
      const model = ctx.json.model as string;
      if (ctx.json.stream === true) return stream(ctx, model);
      const r = responseObject(ctx.json, model, ctx.tenant);
      if (r.store) ctx.tenant.responses.set(r.id as string, r);
      sendJson(ctx, 200, r);
    },
  },
  {
    method: "GET",
    path: "/v1/responses/:id",
    handler: (ctx) => {
      const r = ctx.tenant.responses.get(ctx.params.id);
      if (!r) return sendError(ctx, 404, `Response with id '${ctx.params.id}' not found.`, "invalid_request_error", null, null);
      sendJson(ctx, 200, r);
    },
  },
  {
    method: "DELETE",
    path: "/v1/responses/:id",
    handler: (ctx) => {
      if (!ctx.tenant.responses.delete(ctx.params.id))
        return sendError(ctx, 404, `Response with id '${ctx.params.id}' not found.`, "invalid_request_error", null, null);
      sendJson(ctx, 200, { id: ctx.params.id, object: "response", deleted: true });
    },
  },
];
