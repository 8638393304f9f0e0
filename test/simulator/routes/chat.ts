import type { Ctx, Route } from "../http.ts";
import { missingParam, sendError, sendJson } from "../http.ts";
import { streamSse } from "../sse.ts";
import type { SseEvent } from "../sse.ts";
import { complete, estimateTokens } from "../text.ts";
import type { Completion } from "../text.ts";
import { chatUsage, countTokens } from "../usage.ts";
import { isObj, newId, nowSec, str } from "../util.ts";
import type { Obj } from "../util.ts";

const FINGERPRINT = "fp_sim0000001";

const usage = (c: Completion, body: Obj, model: string, cacheOwner?: object) => chatUsage(countTokens(c, body, model, cacheOwner));

/** The chat.completion object for a request body (also used by batches, which pass no cache owner). */
export function chatCompletion(body: Obj, model: string, cacheOwner?: object): object {
  const c = complete(body);
  return {
    id: newId("chatcmpl-", 29),
    object: "chat.completion",
    created: nowSec(),
    model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: c.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: c.truncated ? "length" : "stop",
      },
    ],
    usage: usage(c, body, model, cacheOwner),
    service_tier: "default",
    system_fingerprint: FINGERPRINT,
  };
}

/** Validates a chat request; sends the 400 and returns false when invalid. */
function validate(ctx: Ctx): boolean {
  const b = ctx.json;
  if (!str(b, "model")) {
    sendError(ctx, 400, "you must provide a model parameter", "invalid_request_error", "model", null);
    return false;
  }
  if (!Array.isArray(b.messages)) {
    missingParam(ctx, "messages");
    return false;
  }
  if (b.messages.length === 0) {
    sendError(
      ctx,
      400,
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      "invalid_request_error",
      "messages",
      "empty_array",
    );
    return false;
  }
  return true;
}

function stream(ctx: Ctx, model: string): Promise<void> {
  const c = complete(ctx.json);
  const so = ctx.json.stream_options;
  const includeUsage = isObj(so) && so.include_usage === true;
  const id = newId("chatcmpl-", 29);
  const created = nowSec();
  const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"service_tier":"default","system_fingerprint":"${FINGERPRINT}",`;
  const tail = includeUsage ? `,"usage":null}` : "}";
  const choice = (delta: object, finish: string | null) =>
    `"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish ? `"${finish}"` : "null"}}]`;
  const events: SseEvent[] = [{ data: head + choice({ role: "assistant", content: "", refusal: null }, null) + tail }];
  for (const part of c.chunks) events.push({ data: head + choice({ content: part }, null) + tail });
  events.push({ data: head + choice({}, c.truncated ? "length" : "stop") + tail });
  if (includeUsage) events.push({ data: head + `"choices":[],"usage":${JSON.stringify(usage(c, ctx.json, model, ctx.tenant))}}` });
  events.push({ data: "[DONE]" });
  return streamSse(ctx, events);
}

export const chatRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/chat/completions",
    tokens: estimateTokens,
    handler: (ctx) => {
      if (!validate(ctx)) return;
      const model = ctx.json.model as string;
      if (ctx.json.stream === true) return stream(ctx, model);
      sendJson(ctx, 200, chatCompletion(ctx.json, model, ctx.tenant));
    },
  },
];
