import type { Route } from "../http.ts";
import { sendError, sendJson } from "../http.ts";
import { estimateInputTokens } from "../text.ts";
import { newId, seededRandom, str, textOf } from "../util.ts";

const CATS = [
  "hate",
  "hate/threatening",
  "harassment",
  "harassment/threatening",
  "illicit",
  "illicit/violent",
  "self-harm",
  "self-harm/intent",
  "self-harm/instructions",
  "sexual",
  "sexual/minors",
  "violence",
  "violence/graphic",
] as const;

/** Deterministic result: flagged for "violence" only when the text contains "kill". */
function result(text: string): object {
  const rnd = seededRandom(text);
  const flaggedViolence = /\bkill/i.test(text);
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const applied: Record<string, string[]> = {};
  for (const c of CATS) {
    const hit = c === "violence" && flaggedViolence;
    categories[c] = hit;
    scores[c] = hit ? 0.9 + rnd() * 0.09 : rnd() * 0.001;
    applied[c] = ["text"];
  }
  return { flagged: flaggedViolence, categories, category_scores: scores, category_applied_input_types: applied };
}

export const moderationRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/moderations",
    tokens: estimateInputTokens,
    handler: (ctx) => {
      const input = ctx.json.input;
      if (input === undefined)
        return sendError(ctx, 400, "Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter");
      const texts = typeof input === "string" ? [input] : Array.isArray(input) ? input.map((x) => textOf(x).join(" ")) : [];
      sendJson(ctx, 200, { id: newId("modr-", 29), model: str(ctx.json, "model") ?? "omni-moderation-latest", results: texts.map(result) });
    },
  },
];
