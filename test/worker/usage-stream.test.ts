import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getProvider } from "../../src/providers/catalog";
import { createSseScanner, readSseStream } from "../../src/usage/extract";
import { passThrough, type Scanner } from "../../src/usage/stream-read";
import { chatUsage } from "../harness/usage-fixtures";

/**
 * How a stream reaches the caller while its usage is read (src/usage/stream-read.ts)
 * and how its events are scanned (src/usage/extract.ts `createSseScanner`), in
 * workerd, against upstream streams whose every read is counted.
 */

const rules = getProvider("openai")!.usage!;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const chatChunk = (content: string | null, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    model: "gpt-4o-mini",
    choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    usage: null,
    ...extra,
  })}\n\n`;
const usage = chatUsage;

/**
 * An upstream body that hands out one chunk per read it is asked for (nothing queued ahead), a timer later, counting them.
 * A JavaScript stream (a fetch body is workerd's own: its tee cancels upstream once both branches are
 * cancelled, which usage.test.ts and test/node/stream-disconnect.test.ts show against the simulator).
 */
function upstream(chunks: string[], failAt = -1) {
  const state = { taken: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // Each chunk comes a timer later, as from a network (never within the task that asked).
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (state.taken === failAt) controller.error(new Error("upstream dropped"));
        else if (state.taken < chunks.length) controller.enqueue(encoder.encode(chunks[state.taken++]));
        else controller.close();
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

/** The real scanner, recording what it was handed. */
function recording(): Scanner & { seen: string[] } {
  const inner = createSseScanner(rules);
  const seen: string[] = [];
  return {
    seen,
    push(chunk) {
      seen.push(decoder.decode(chunk));
      inner.push(chunk);
    },
    end: () => inner.end(),
  };
}

describe("a stream on its way to the caller", () => {
  const events = [chatChunk(""), chatChunk("Hello"), chatChunk(" there"), chatChunk(" friend"), chatChunk(null, { usage }), "data: [DONE]\n\n"];

  it("is handed over chunk by chunk, upstream read no faster than the caller takes it, the held copy scanned once at the end", async () => {
    const up = upstream(events);
    const scan = recording();
    const { body, reading } = passThrough(up.stream, scan);
    const reader = body.getReader();
    let got = "";
    for (let k = 1; k <= events.length; k++) {
      const r = await reader.read();
      expect(r.done).toBe(false);
      got += decoder.decode(r.value);
      // Backpressure: the counting branch pulls nothing; upstream is read as the caller's branch is (a chunk or two ahead).
      expect(up.state.taken).toBeLessThanOrEqual(k + 2);
      // Nothing of the stream is scanned (no JavaScript per chunk) while it runs.
      expect(scan.seen).toEqual([]);
    }
    expect((await reader.read()).done).toBe(true);
    expect(got).toBe(events.join(""));
    const { u, cut } = await reading;
    expect(cut).toBe(false);
    expect(scan.seen.join("")).toBe(got);
    expect(u).toMatchObject({ model: "gpt-4o-mini", found: true, estimated: false, tokens: { input: 11, cachedInput: 3, output: 7, reasoning: 2 } });
    expect(up.state.cancelled).toBe(false);
  });

  it("a caller that leaves: the reading ends cut at once, estimated from what came from upstream", async () => {
    const up = upstream(events);
    const scan = recording();
    const { body, reading } = passThrough(up.stream, scan);
    const reader = body.getReader();
    await reader.read();
    const second = await reader.read();
    expect(decoder.decode(second.value)).toBe(events[1]);
    await reader.cancel();
    const { u, cut } = await reading;
    expect(cut, "cut").toBe(true);
    expect(up.state.taken).toBeLessThanOrEqual(4);
    // What upstream had sent when the caller left (held for the counting branch) is what is estimated:
    // at least what the caller had ("Hello": 2 tokens at 4 characters each), never the events it never sent.
    expect(scan.seen.join("")).toBe(events.slice(0, up.state.taken).join(""));
    expect(u).toMatchObject({ model: "gpt-4o-mini", found: false, estimated: true });
    expect(u.tokens.output).toBeGreaterThanOrEqual(2);
  });

  it("a stream still running after the held time is read chunk by chunk from then on: exact usage, and a caller leaving still ends it cut", async () => {
    const whole = upstream(events);
    const scan = recording();
    const done = passThrough(whole.stream, scan, 0);
    const all = await new Response(done.body).text();
    expect(all).toBe(events.join(""));
    expect(await done.reading).toMatchObject({ cut: false, u: { found: true, estimated: false, tokens: { input: 11, output: 7 } } });
    expect(scan.seen.join("")).toBe(all);

    const up = upstream(events);
    const { body, reading } = passThrough(up.stream, recording(), 0);
    const reader = body.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect((await reading).cut, "cut").toBe(true);
    expect(up.state.taken).toBeLessThan(events.length);
  });

  it("an upstream failure mid-stream fails the caller's body; the reading ends cut", async () => {
    const up = upstream(events, 2);
    const { body, reading } = passThrough(up.stream, recording());
    const reader = body.getReader();
    await reader.read();
    await reader.read();
    await expect(reader.read()).rejects.toThrow();
    expect((await reading).cut).toBe(true);
  });
});

describe("the SSE scanner", () => {
  /** Splits bytes at the given offsets (as a network would, mid-character included). */
  const split = (bytes: Uint8Array, at: number[]) => {
    const cuts = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
    return [0, ...cuts].map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length));
  };
  const scanAll = (chunks: Uint8Array[]) => {
    const s = createSseScanner(rules);
    for (const c of chunks) s.push(c);
    return s.end();
  };
  const text = fc.string({ unit: "binary", minLength: 0, maxLength: 12 });

  it("estimates a chat stream without usage from its deltas' decoded length, however the bytes are cut and whatever the line endings", () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (deltas, cuts, crlf) => {
        let body = [chatChunk(""), ...deltas.map((d) => chatChunk(d)), "data: [DONE]\n\n"].join("");
        if (crlf) body = body.replaceAll("\n", "\r\n");
        const u = scanAll(split(encoder.encode(body), cuts));
        const chars = deltas.reduce((n, d) => n + d.length, 0);
        expect(u).toMatchObject({ model: "gpt-4o-mini", found: false, estimated: true, tokens: { output: Math.ceil(chars / 4), input: 0 } });
      }),
    );
  });

  it("takes a chat stream's final usage chunk exactly, and a Responses stream's response.completed", () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (deltas, cuts) => {
        const chat = [...deltas.map((d) => chatChunk(d)), chatChunk(null, { usage }), "data: [DONE]\n\n"].join("");
        expect(scanAll(split(encoder.encode(chat), cuts))).toMatchObject({
          found: true,
          estimated: false,
          tokens: { input: 11, cachedInput: 3, output: 7, reasoning: 2 },
        });

        const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
        const response = { id: "resp_1", model: "gpt-4o", usage: null as unknown, output: [] };
        const responses = [
          ev("response.created", { response }),
          ...deltas.map((d, i) => ev("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: d, sequence_number: i })),
          ev("response.output_text.done", { text: deltas.join("") }),
          ev("response.completed", {
            response: {
              ...response,
              usage: { input_tokens: 5, output_tokens: 9, input_tokens_details: { cached_tokens: 1 }, output_tokens_details: { reasoning_tokens: 4 } },
            },
          }),
        ].join("");
        expect(scanAll(split(encoder.encode(responses), cuts))).toMatchObject({
          model: "gpt-4o",
          found: true,
          estimated: false,
          tokens: { input: 5, cachedInput: 1, output: 9, reasoning: 4 },
        });
        // Without its last event (cut): estimated from the deltas.
        const cutShort = responses.slice(0, responses.indexOf("event: response.completed"));
        const chars = deltas.reduce((n, d) => n + d.length, 0);
        expect(scanAll(split(encoder.encode(cutShort), cuts))).toMatchObject({ model: "gpt-4o", found: false, tokens: { output: Math.ceil(chars / 4) } });
      }),
    );
  });

  it("reads a whole stream from its end (the held copy at a stream's end) exactly as the chunk scanner reads it", () => {
    const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const event = fc.oneof(
      text.map((d) => chatChunk(d)),
      fc.constant(chatChunk(null, { usage })),
      fc.constant(chatChunk(null, { usage: { ...usage, prompt_tokens: 99 }, model: "gpt-4o" })),
      text.map((d) => ev("response.output_text.delta", { delta: d })),
      fc.constant(ev("response.completed", { response: { model: "gpt-4o", usage: { input_tokens: 5, output_tokens: 9 } } })),
      // A usage key that is not usage (inside the text: escaped; as a key elsewhere: not under a usage path).
      fc.constant(chatChunk('"usage":{"prompt_tokens":1}')),
      fc.constant(`data: ${JSON.stringify({ other: { usage: { prompt_tokens: 4 } } })}\n\n`),
      fc.constant("data: [DONE]\n\n"),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), fc.boolean(), fc.boolean(), (events, crlf, unfinished) => {
        let body = events.join("");
        if (unfinished) body = body.slice(0, -1);
        if (crlf) body = body.replaceAll("\n", "\r\n");
        const bytes = encoder.encode(body);
        expect(readSseStream(bytes, rules)).toEqual(scanAll([bytes]));
      }),
    );
  });
});
