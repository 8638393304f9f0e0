import type { Route } from "../http.ts";
import { sendError, sendJson } from "../http.ts";
import { estimateInputTokens } from "../text.ts";
import { charTokens, num, seededRandom, str } from "../util.ts";

const DIMS: Record<string, number> = { "text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536 };

/** Deterministic unit vector from the input. */
export function embed(input: string, dims: number): Float32Array {
  const rnd = seededRandom(input);
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const x = rnd() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] /= norm;
  return v;
}

function inputsOf(input: unknown): string[] | null {
  if (typeof input === "string") return [input];
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((x) => typeof x === "string")) return input as string[];
    if (input.every((x) => typeof x === "number")) return [input.join(",")];
    if (input.every((x) => Array.isArray(x))) return input.map((x: unknown[]) => x.join(","));
  }
  return null;
}

export const embeddingRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/embeddings",
    tokens: estimateInputTokens,
    handler: (ctx) => {
      const model = str(ctx.json, "model");
      if (!model) return sendError(ctx, 400, "you must provide a model parameter", "invalid_request_error", "model", null);
      const inputs = inputsOf(ctx.json.input);
      if (!inputs) return sendError(ctx, 400, "'input' is a required property", "invalid_request_error", "input", null);
      const dims = num(ctx.json, "dimensions") ?? DIMS[model] ?? 1536;
      const base64 = ctx.json.encoding_format === "base64";
      let tokens = 0;
      const data = inputs.map((s, index) => {
        tokens += Math.max(1, charTokens(s.length));
        const v = embed(s, dims);
        return { object: "embedding", index, embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v) };
      });
      sendJson(ctx, 200, { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
    },
  },
];
