import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getProvider } from "../../src/providers/catalog";
import { readJsonAnswer } from "../../src/usage/extract";
import { chatUsage, chatUsageCounts } from "../harness/usage-fixtures";

/**
 * A small JSON answer's usage, read at once from its ends (src/usage/extract.ts
 * `readJsonAnswer`): whatever the answer holds, the figures a full parse finds
 * at the rules' paths (top-level `usage` and `model`).
 */

const rules = getProvider("openai")!.usage!;
const encoder = new TextEncoder();
const read = (answer: unknown, indent?: number) => readJsonAnswer(encoder.encode(JSON.stringify(answer, null, indent)), rules);

const usage = chatUsage;
const exact = chatUsageCounts;
const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-4o-mini-2024-07-18",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  usage,
  service_tier: "default",
  system_fingerprint: "fp_1",
  ...extra,
});

describe("a small JSON answer's usage", () => {
  it("reads a chat completion exactly: its usage with the nested details, its model, however it is spaced", () => {
    for (const indent of [undefined, 2, "\t" as unknown as number]) {
      expect(read(chat("Hello"), indent)).toEqual({ model: "gpt-4o-mini-2024-07-18", tokens: exact, estimated: false, found: true });
    }
    // Spaces and line ends around the colon and braces, as a hand-written upstream might send.
    const spaced = `{ "model" :  "gpt-4o" ,\r\n "choices": [] ,\n  "usage"\t:\n { "prompt_tokens" : 5, "completion_tokens": 1 }\n}\n`;
    expect(readJsonAnswer(encoder.encode(spaced), rules)).toEqual({
      model: "gpt-4o",
      tokens: { input: 5, cachedInput: 0, output: 1, reasoning: 0 },
      estimated: false,
      found: true,
    });
  });

  it("is not fooled by `usage` written inside a string: the content, a later string member, a key ending in an escaped quote", () => {
    const fake = `"usage": {"prompt_tokens": 999, "completion_tokens": 999}`;
    expect(read(chat(`The answer mentions ${fake} in its text`)).tokens).toEqual(exact);
    expect(read(chat("Hi", { system_fingerprint: `fp ${fake}` })).tokens).toEqual(exact);
    // A key `note "usage` after the real usage: its text ends with `"usage"` but its quote is escaped.
    expect(read(chat("Hi", { 'note "usage': { prompt_tokens: 999, completion_tokens: 999 } })).tokens).toEqual(exact);
  });

  it("takes the answer's own usage, not a nested object's `usage` after it (metadata, a tool's result)", () => {
    const nested = { usage: { prompt_tokens: 999, completion_tokens: 999 } };
    expect(read(chat("Hi", { metadata: nested })).tokens).toEqual(exact);
    expect(read(chat("Hi", { tools: [nested, { deeper: nested }] })).tokens).toEqual(exact);
    // A Responses answer: model and usage at the top, `usage` also named inside its output items.
    const responses = {
      id: "resp_1",
      object: "response",
      model: "gpt-4.1-mini",
      output: [{ type: "message", content: [{ type: "output_text", text: "x", usage: { input_tokens: 999 } }] }],
      usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens: 9, output_tokens_details: { reasoning_tokens: 1 } },
      user: null,
      metadata: { usage: { output_tokens: 999 } },
    };
    expect(read(responses)).toEqual({ model: "gpt-4.1-mini", tokens: { input: 20, cachedInput: 4, output: 9, reasoning: 1 }, estimated: false, found: true });
  });

  it("an answer without usage counts as before: zero tokens, not estimated, not found, its model kept", () => {
    const { usage: _gone, ...noUsage } = chat("Hi");
    expect(read(noUsage)).toEqual({
      model: "gpt-4o-mini-2024-07-18",
      tokens: { input: 0, cachedInput: 0, output: 0, reasoning: 0 },
      estimated: false,
      found: false,
    });
    expect(read({ ...noUsage, note: "usage" })).toMatchObject({ found: false, tokens: { input: 0, output: 0 } });
  });

  it("finds the model past the first KiB and the usage before the last 2 KiB (a long member in the way) by parsing the whole answer", () => {
    const long = "é".repeat(1500);
    const answer = { id: "x", instructions: long, model: "o3", usage: { prompt_tokens: 4, completion_tokens: 2 }, trailer: long };
    const found = { model: "o3", tokens: { input: 4, cachedInput: 0, output: 2, reasoning: 0 }, estimated: false, found: true };
    expect(read(answer)).toEqual(found);
    expect(read({ ...answer, trailer: undefined })).toEqual(found);
    expect(read({ ...answer, instructions: undefined })).toEqual(found);
  });

  it("not JSON: no usage found, nothing thrown", () => {
    expect(readJsonAnswer(encoder.encode("<html>bad gateway</html>"), rules)).toMatchObject({ found: false, model: null });
  });

  it("agrees with a full parse for any chat answer: random content and members around it, nested usages, any spacing", () => {
    const tricky = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom('"usage":{"prompt_tokens":1}', '\\"usage\\"', "}", "{", '",', "\\", '"model":"fake"', "usage"),
    );
    const member = fc.oneof(
      tricky,
      fc.record({ usage: fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() }) }),
      fc.array(tricky, { maxLength: 3 }),
    );
    const counts = fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), total_tokens: fc.nat() });
    fc.assert(
      fc.property(
        fc.array(tricky, { maxLength: 4 }),
        fc.option(counts, { nil: undefined }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), member, { maxKeys: 4 }),
        fc.constantFrom(undefined, 1, 2),
        (content, counted, after, indent) => {
          const answer: Record<string, unknown> = { id: "c", model: "gpt-4o-mini", choices: [{ message: { content: content.join(" ") } }] };
          if (counted) answer.usage = counted;
          for (const [k, v] of Object.entries(after)) if (!["id", "model", "choices", "usage", "__proto__"].includes(k)) answer[k] = v;
          const got = read(answer, indent);
          expect(got).toEqual({
            model: "gpt-4o-mini",
            tokens: { input: counted?.prompt_tokens ?? 0, cachedInput: 0, output: counted?.completion_tokens ?? 0, reasoning: 0 },
            estimated: false,
            found: counted !== undefined,
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
