import { z } from "zod";
import { defineAction } from "../types";
import { Metadata, noStream, resourceId } from "./common";

const Usage = z.object({}).loose();

const ResponseOutput = z
  .object({
    id: z.string(),
    object: z.literal("response"),
    created_at: z.number(),
    status: z.string(),
    model: z.string(),
    output: z.array(z.object({ type: z.string() }).loose()),
    /** Joined text of the output messages (the SDKs' `output_text`). */
    output_text: z.string(),
    usage: Usage.nullish(),
  })
  .loose();

const outputText = (output: unknown): string => {
  if (!Array.isArray(output)) return "";
  const parts: string[] = [];
  for (const item of output as { type?: unknown; content?: unknown }[]) {
    if (item?.type !== "message" || !Array.isArray(item.content)) continue;
    for (const c of item.content as { type?: unknown; text?: unknown }[]) {
      if (c?.type === "output_text" && typeof c.text === "string") parts.push(c.text);
    }
  }
  return parts.join("");
};

export const createResponse = defineAction({
  name: "create-response",
  description: "Generate a model response (POST /v1/responses).",
  input: z
    .object({
      model: z.string().min(1),
      input: z.union([z.string(), z.array(z.unknown())]).optional(),
      instructions: z.string().optional(),
      previous_response_id: resourceId("resp_abc123").optional(),
      max_output_tokens: z.int().positive().optional(),
      temperature: z.number().min(0).max(2).optional(),
      metadata: Metadata.optional(),
      store: z.boolean().optional(),
      stream: noStream,
    })
    .loose(),
  output: ResponseOutput,
  async run(input, call) {
    const res = (await call({ method: "POST", path: "/v1/responses", json: input }).then((r) => r.json())) as Record<string, unknown>;
    return typeof res === "object" && res !== null ? { ...res, output_text: outputText(res.output) } : res;
  },
});

export const createChatCompletion = defineAction({
  name: "create-chat-completion",
  description: "Create a chat completion (POST /v1/chat/completions).",
  input: z
    .object({
      model: z.string().min(1),
      messages: z.array(z.object({ role: z.string(), content: z.unknown().optional() }).loose()).min(1),
      max_completion_tokens: z.int().positive().optional(),
      temperature: z.number().min(0).max(2).optional(),
      n: z.int().min(1).max(128).optional(),
      stream: noStream,
    })
    .loose(),
  output: z
    .object({
      id: z.string(),
      object: z.literal("chat.completion"),
      created: z.number(),
      model: z.string(),
      choices: z.array(
        z
          .object({
            index: z.number(),
            message: z.object({ role: z.string(), content: z.string().nullable() }).loose(),
            finish_reason: z.string().nullable(),
          })
          .loose(),
      ),
      usage: Usage.optional(),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: "/v1/chat/completions", json: input }).then((r) => r.json()),
});

export const createEmbedding = defineAction({
  name: "create-embedding",
  description: "Embed text or tokens (POST /v1/embeddings).",
  input: z
    .object({
      model: z.string().min(1),
      input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.int()).min(1), z.array(z.array(z.int())).min(1)]),
      dimensions: z.int().positive().optional(),
      encoding_format: z.enum(["float", "base64"]).optional(),
      user: z.string().optional(),
    })
    .loose(),
  output: z
    .object({
      object: z.literal("list"),
      data: z.array(z.object({ object: z.literal("embedding"), index: z.number(), embedding: z.union([z.array(z.number()), z.string()]) }).loose()),
      model: z.string(),
      usage: z.object({ prompt_tokens: z.number(), total_tokens: z.number() }).loose(),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: "/v1/embeddings", json: input }).then((r) => r.json()),
});

export const createModeration = defineAction({
  name: "create-moderation",
  description: "Classify text (or text and images) for policy violations (POST /v1/moderations).",
  input: z
    .object({
      input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.object({ type: z.string() }).loose()).min(1)]),
      model: z.string().optional(),
    })
    .loose(),
  output: z
    .object({
      id: z.string(),
      model: z.string(),
      results: z.array(
        z
          .object({
            flagged: z.boolean(),
            categories: z.record(z.string(), z.boolean()),
            category_scores: z.record(z.string(), z.number()),
          })
          .loose(),
      ),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: "/v1/moderations", json: input }).then((r) => r.json()),
});
