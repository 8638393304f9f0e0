import { charTokens, num, textOf } from "./util.ts";
import type { Obj } from "./util.ts";

/** Max output tokens charged (and answered) when a request names none. */
export const DEFAULT_MAX_TOKENS = 256;

/** Input characters of a chat/responses/embeddings request (messages, input, instructions). */
export function inputChars(body: Obj): number {
  let n = 0;
  for (const s of textOf(body.messages ?? body.input ?? "")) n += s.length;
  if (typeof body.instructions === "string") n += body.instructions.length;
  return n;
}

export function maxTokensOf(body: Obj): number {
  return num(body, "max_completion_tokens") ?? num(body, "max_tokens") ?? num(body, "max_output_tokens") ?? DEFAULT_MAX_TOKENS;
}

function charsOf(v: unknown): number {
  let n = 0;
  for (const s of textOf(v)) n += s.length;
  return n;
}

/** Characters of the prompt as the token charge counts them: messages' text, `input`, `prompt`, `instructions`. */
export function promptChars(body: Obj): number {
  return charsOf(body.messages) + charsOf(body.input) + charsOf(body.prompt) + (typeof body.instructions === "string" ? body.instructions.length : 0);
}

/** Token ids given instead of text (embeddings' `input`, completions' `prompt`): each is one token. */
function tokenIds(v: unknown): number {
  if (!Array.isArray(v)) return 0;
  let n = 0;
  for (const x of v) n += typeof x === "number" ? 1 : tokenIds(x);
  return n;
}

function nOf(body: Obj): number {
  const n = num(body, "n");
  return n !== undefined && n >= 1 ? Math.floor(n) : 1;
}

/** The up-front charge of a generating request: ceil(prompt chars / chars_per_token) + max output tokens × n. */
export function estimateTokens(body: Obj, charsPerToken: number): number {
  return Math.ceil(promptChars(body) / charsPerToken) + tokenIds(body.prompt) + maxTokensOf(body) * nOf(body);
}

/** The up-front charge of embeddings and moderations: their input only. */
export function estimateInputTokens(body: Obj, charsPerToken: number): number {
  return Math.ceil(charsOf(body.input) / charsPerToken) + tokenIds(body.input);
}

/** Last user text of a chat/responses request. */
function lastUserText(body: Obj): string {
  const src = body.messages ?? body.input;
  if (typeof src === "string") return src;
  if (Array.isArray(src)) {
    for (let i = src.length - 1; i >= 0; i--) {
      const parts = textOf(src[i]);
      if (parts.length) return parts.join(" ");
    }
  }
  return "";
}

export interface Completion {
  text: string;
  chunks: string[];
  promptTokens: number;
  completionTokens: number;
  truncated: boolean;
}

/** Deterministic echo-like answer, split into word chunks for streams. */
export function complete(body: Obj): Completion {
  const said = lastUserText(body).replace(/\s+/g, " ").trim().slice(0, 200);
  let text = `This is a simulated response to: ${said || "(empty)"}`;
  const max = maxTokensOf(body);
  let truncated = false;
  if (charTokens(text.length) > max) {
    text = text.slice(0, Math.max(1, max * 4));
    truncated = true;
  }
  const words = text.split(/(?<= )/);
  const per = Math.max(1, Math.ceil(words.length / 8));
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += per) chunks.push(words.slice(i, i + per).join(""));
  return { text, chunks, promptTokens: Math.max(1, charTokens(inputChars(body))), completionTokens: charTokens(text.length), truncated };
}
