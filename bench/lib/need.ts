// The floor of the required work (`npm run bench -- --need`): the bare pass-through Worker
// (bench/lib/floor.ts) plus exactly the reads that issues 10 and 16 require of any proxy, and
// nothing of terapi's. Issue 10: the model is read from a JSON request before it is sent (per-model
// limits). Issue 16: the usage is read from every answer, beside the caller's copy:
// - a stream (text/event-stream) goes to the caller through a native tee and pipe
//   (IdentityTransformStream), its held copy read at the end (`ctx.waitUntil`) and scanned for the
//   last `usage`;
// - a small JSON answer (declared length ≤ 16 KiB, as terapi's WHOLE_READ_LIMIT) is read whole,
//   its `usage` parsed, and the caller answered from the same bytes;
// - anything else passes through untouched.
// In terapi's place in table 1 it answers: does a Worker that does only this meet issue 13's targets?
// `GET /__need` answers what it read (counts since the isolate started), so the run can check that
// every read happened (`needReadErrors`).
import { PREPARE } from "./floor.ts";
import { sleep } from "../../scripts/lib/procs.ts";

/** The counts the Worker keeps (one isolate: a fresh workerd process per side). */
export type NeedReads = {
  /** Requests proxied. */
  requests: number;
  /** JSON request bodies read before sending, and how many of them named a model. */
  bodies: number;
  models: number;
  /** Small JSON answers read whole, and how many of them carried a `usage`. */
  json: number;
  jsonUsage: number;
  /** Streams teed, their held copies read to the end, and how many of those had a `usage`. */
  streams: number;
  streamsRead: number;
  streamUsage: number;
  /** Answers passed through without a read (long or unknown-length JSON, other types). */
  passed: number;
};

const SMALL_ANSWER_BYTES = 16 * 1024;

export const NEED_SCRIPT = `
const reads = { requests: 0, bodies: 0, models: 0, json: 0, jsonUsage: 0, streams: 0, streamsRead: 0, streamUsage: 0, passed: 0 };
const decoder = new TextDecoder();

/** The last \`usage\` object in an SSE text: Chat Completions' final chunk or the Responses API's response.completed. */
function lastUsage(text) {
  const at = text.lastIndexOf('"usage"');
  if (at < 0) return undefined;
  const start = text.lastIndexOf("data:", at);
  const end = text.indexOf("\\n", at);
  try {
    const event = JSON.parse(text.slice(start + 5, end < 0 ? undefined : end));
    return event.usage ?? event.response?.usage ?? undefined;
  } catch {
    return undefined;
  }
}

export default {
  async fetch(request, env, ctx) {${PREPARE}
    if (url.pathname === "/__need") return Response.json(reads);
    reads.requests++;
    let body = request.body;
    if (body && (request.headers.get("content-type") ?? "").includes("json")) {
      body = await request.arrayBuffer();
      reads.bodies++;
      try {
        if (typeof JSON.parse(decoder.decode(body)).model === "string") reads.models++;
      } catch {}
    }
    const res = await fetch(env.UPSTREAM + path + url.search, { method: request.method, headers, body });
    const type = res.headers.get("content-type") ?? "";
    if (res.body && type.startsWith("text/event-stream")) {
      reads.streams++;
      const [mine, theirs] = res.body.tee();
      const out = new IdentityTransformStream();
      ctx.waitUntil(
        theirs
          .pipeTo(out.writable)
          .then(() => new Response(mine).text())
          .then((text) => {
            reads.streamsRead++;
            if (lastUsage(text)) reads.streamUsage++;
          }),
      );
      return new Response(out.readable, res);
    }
    const length = res.headers.get("content-length");
    if (res.body && type.includes("json") && length !== null && Number(length) <= ${SMALL_ANSWER_BYTES}) {
      const bytes = await res.arrayBuffer();
      reads.json++;
      try {
        if (JSON.parse(decoder.decode(bytes)).usage) reads.jsonUsage++;
      } catch {}
      return new Response(bytes, res);
    }
    reads.passed++;
    return res;
  },
};`;

/** What the need-floor Worker at `base` (its `/proxy` target) has read so far. */
async function needReads(base: string): Promise<NeedReads> {
  const res = await fetch(`${new URL(base).origin}/__need`);
  if (!res.ok) throw new Error(`GET /__need → ${res.status}`);
  return (await res.json()) as NeedReads;
}

/** The same once the last stream's held copy has been read (it runs after the caller's copy ended: up to 2 s). */
export async function settledNeedReads(base: string): Promise<NeedReads> {
  let r = await needReads(base);
  for (let i = 0; i < 20 && r.streamsRead < r.streams; i++) {
    await sleep(100);
    r = await needReads(base);
  }
  return r;
}

/**
 * Where the Worker skipped a read the run relies on: every JSON body must have named a model, every
 * stream's held copy must have been read to its end, and a run that sent chat calls must have read usage.
 */
export function needReadErrors(name: string, r: NeedReads, sent: { json: boolean; streams: boolean }): string[] {
  const errors: string[] = [];
  if (r.models !== r.bodies) errors.push(`${name}: ${r.bodies - r.models} of ${r.bodies} JSON request bodies named no model`);
  if (sent.json && r.jsonUsage === 0) errors.push(`${name}: no usage read from ${r.json} small JSON answers`);
  if (sent.streams && r.streams === 0) errors.push(`${name}: no stream teed`);
  if (r.streamsRead !== r.streams) errors.push(`${name}: ${r.streams - r.streamsRead} of ${r.streams} streams' held copies not read to their end`);
  return errors;
}
