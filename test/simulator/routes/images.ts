import type { Route } from "../http.ts";
import { sendError, sendJson } from "../http.ts";
import { estimateTokens } from "../text.ts";
import { num, nowSec, str } from "../util.ts";

/** A valid 1x1 PNG. */
const PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

export const imageRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/images/generations",
    tokens: estimateTokens,
    handler: (ctx) => {
      const prompt = str(ctx.json, "prompt");
      if (!prompt) return sendError(ctx, 400, "Missing required parameter: 'prompt'.", "invalid_request_error", "prompt", "missing_required_parameter");
      const n = Math.min(10, Math.max(1, num(ctx.json, "n") ?? 1));
      const data = Array.from({ length: n }, () => ({ b64_json: PNG_1X1, revised_prompt: prompt }));
      sendJson(ctx, 200, {
        created: nowSec(),
        data,
        background: "opaque",
        output_format: "png",
        quality: "low",
        size: "1024x1024",
        usage: {
          input_tokens: Math.ceil(prompt.length / 4),
          output_tokens: 272 * n,
          total_tokens: Math.ceil(prompt.length / 4) + 272 * n,
          input_tokens_details: { text_tokens: Math.ceil(prompt.length / 4), image_tokens: 0 },
        },
      });
    },
  },
];
