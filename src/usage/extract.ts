import type { TokenCounts, UsageRules } from "./types";

/**
 * Reading usage out of response bytes, beside the caller's copy: JSON bodies
 * keep only their first and last bytes (usage and model sit there), SSE
 * streams are scanned event by event and parsed only where an event can
 * carry usage or the model.
 */

const HEAD_BYTES = 4 * 1024;
const TAIL_BYTES = 16 * 1024;

export type ReadUsage = { model: string | null; tokens: TokenCounts; estimated: boolean; found: boolean };

const decoder = new TextDecoder();

const zero = (): TokenCounts => ({ input: 0, cachedInput: 0, output: 0, reasoning: 0 });

/** `a.b.0.c` inside a parsed JSON value. */
function pick(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function firstNumber(usage: unknown, paths: string[]): number {
  for (const p of paths) {
    const n = pick(usage, p);
    if (typeof n === "number" && Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  return 0;
}

function tokensOf(usage: unknown, rules: UsageRules): TokenCounts {
  const f = rules.fields;
  return {
    input: firstNumber(usage, f.input),
    cachedInput: firstNumber(usage, f.cachedInput),
    output: firstNumber(usage, f.output),
    reasoning: firstNumber(usage, f.reasoning),
  };
}

function firstObject(value: unknown, paths: string[]): unknown {
  for (const p of paths) {
    const v = pick(value, p);
    if (v !== null && typeof v === "object") return v;
  }
  return undefined;
}

function firstString(value: unknown, paths: string[]): string | null {
  for (const p of paths) {
    const v = pick(value, p);
    if (typeof v === "string" && v) return v;
  }
  return null;
}

/** The `{…}` starting at `from` (braces inside strings are skipped), or null when cut. */
function objectAt(text: string, from: number): string | null {
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123) depth++;
    else if (ch === 125 && --depth === 0) return text.slice(from, i + 1);
  }
  return null;
}

const lastKey = (path: string) => path.slice(path.lastIndexOf(".") + 1);

/**
 * What a rules object's paths come to, worked out once per rules object (not
 * per response): for JSON answers, the usage keys and the model patterns; for
 * SSE streams, the text that marks an event with usage (`"usage":{`) and a text
 * delta (`"content":"`: a string under the path's last key; an object or array
 * there is not one).
 */
type Compiled = { usageKeys: string[]; modelPatterns: RegExp[]; sseUsage: string[]; sseDelta: string[] };
const compiledRules = new WeakMap<UsageRules, Compiled>();
function compiled(rules: UsageRules): Compiled {
  let c = compiledRules.get(rules);
  if (!c) {
    c = {
      usageKeys: [...new Set(rules.usagePaths.map(lastKey))],
      modelPatterns: [...new Set(rules.modelPaths.map(lastKey))].map((key) => new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,200})"`)),
      sseUsage: [...new Set(rules.usagePaths.map((p) => `"${lastKey(p)}":{`))],
      sseDelta: [...new Set(rules.deltaPaths.map((p) => `"${lastKey(p)}":"`))],
    };
    compiledRules.set(rules, c);
  }
  return c;
}

/** Usage and model of a top-level JSON body, from its head and tail only (no full parse of big bodies). */
function usageFromJsonText(head: string, tail: string, rules: UsageRules): ReadUsage {
  const out: ReadUsage = { model: null, tokens: zero(), estimated: false, found: false };
  const { usageKeys, modelPatterns } = compiled(rules);
  for (const key of usageKeys) {
    const at = tail.lastIndexOf(`"${key}"`);
    if (at < 0) continue;
    const brace = tail.indexOf("{", at);
    const colon = tail.indexOf(":", at);
    if (brace < 0 || colon < 0 || tail.slice(colon + 1, brace).trim() !== "") continue;
    const raw = objectAt(tail, brace);
    if (!raw) continue;
    try {
      out.tokens = tokensOf(JSON.parse(raw), rules);
      out.found = true;
      break;
    } catch {
      // not JSON after all
    }
  }
  for (const re of modelPatterns) {
    const model = (re.exec(head) ?? re.exec(tail))?.[1];
    if (model !== undefined) {
      out.model = model;
      break;
    }
  }
  return out;
}

/** Keeps the first and last bytes of a body (copies: the caller's stream owns the chunks it was handed). */
export function createJsonCollector(rules: UsageRules) {
  const head: Uint8Array[] = [];
  let headBytes = 0;
  const tail: Uint8Array[] = [];
  let tailBytes = 0;
  return {
    push(bytes: Uint8Array) {
      const chunk = bytes.slice();
      if (headBytes < HEAD_BYTES) {
        head.push(chunk);
        headBytes += chunk.byteLength;
      }
      tail.push(chunk);
      tailBytes += chunk.byteLength;
      while (tail.length > 1 && tailBytes - tail[0]!.byteLength >= TAIL_BYTES) tailBytes -= tail.shift()!.byteLength;
    },
    end(): ReadUsage {
      // One decoder for every body: each decode runs to its end before the next begins.
      const decode = (parts: Uint8Array[]) => {
        if (parts.length === 1) return decoder.decode(parts[0]);
        return parts.map((p) => decoder.decode(p, { stream: true })).join("") + decoder.decode();
      };
      const headText = decode(head);
      // A body in one chunk is its own head and tail: decoded once.
      const whole = head.length === 1 && tail.length === 1 && head[0] === tail[0];
      return usageFromJsonText(headText, whole ? headText : decode(tail), rules);
    },
  };
}

/** A whole answer's first and last bytes the quick read looks at (the model sits near the start, the usage at the end). */
const QUICK_HEAD_BYTES = 1024;
const QUICK_TAIL_BYTES = 2048;

const isSpace = (ch: number) => ch === 32 || ch === 10 || ch === 13 || ch === 9;

/**
 * Usage and model of a whole JSON answer already in memory (a small answer,
 * read before it is answered), as a full parse would find them at the rules'
 * paths, from its last 2 KiB and first 1 KiB only (no copy, no decoding of the
 * rest, no parse but the usage object's): the answer's last member named like
 * the usage path (`"usage": {…}`), where a member of the top-level object
 * can be (after `{` or `,`, only members after it up to the final `}`), and
 * the first `"model": "…"` of the head. Whatever the quick read cannot settle
 * there (no such member in the last 2 KiB, one inside a nested object, cut by
 * the window, no model in the first 1 KiB of a longer answer) is read by
 * parsing the whole answer; an answer with no usage counts as before (zero
 * tokens, not estimated, not found).
 */
export function readJsonAnswer(bytes: Uint8Array, rules: UsageRules): ReadUsage {
  const quick = quickRead(bytes, rules);
  if (quick) return quick;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    // Not JSON: whatever the collector's look at its ends finds, as for a long answer.
    const scan = createJsonCollector(rules);
    scan.push(bytes);
    return scan.end();
  }
  const usage = firstObject(parsed, rules.usagePaths);
  return { model: firstString(parsed, rules.modelPaths), tokens: usage ? tokensOf(usage, rules) : zero(), estimated: false, found: usage !== undefined };
}

/** Is `rest`, what follows a value inside the top-level object, that object's end (`}`, or more members then `}`)? */
function endsTopLevel(rest: string): boolean {
  const r = rest.trim();
  if (r === "}") return true;
  if (r.charCodeAt(0) !== 44) return false;
  try {
    const v: unknown = JSON.parse(`{${r.slice(1)}`);
    return v !== null && typeof v === "object";
  } catch {
    return false;
  }
}

function quickRead(bytes: Uint8Array, rules: UsageRules): ReadUsage | null {
  const { usageKeys, modelPatterns } = compiled(rules);
  const key = usageKeys[0];
  if (key === undefined) return null;
  const tailFrom = Math.max(0, bytes.byteLength - QUICK_TAIL_BYTES);
  const tail = decoder.decode(bytes.subarray(tailFrom));
  const at = tail.lastIndexOf(`"${key}"`);
  if (at < 0) return null;
  // A key: after `{` or `,` (never after `\`: then it is the end of a string), then `:` and an object.
  let i = at - 1;
  while (i >= 0 && isSpace(tail.charCodeAt(i))) i--;
  if (i < 0 || (tail.charCodeAt(i) !== 123 && tail.charCodeAt(i) !== 44)) return null;
  i = at + key.length + 2;
  while (isSpace(tail.charCodeAt(i))) i++;
  if (tail.charCodeAt(i) !== 58) return null;
  i++;
  while (isSpace(tail.charCodeAt(i))) i++;
  if (tail.charCodeAt(i) !== 123) return null;
  const raw = objectAt(tail, i);
  // A `usage` of a nested object (its enclosing object is not the answer's): the full parse finds the answer's own.
  if (!raw || !endsTopLevel(tail.slice(i + raw.length))) return null;
  let usage: unknown;
  try {
    usage = JSON.parse(raw);
  } catch {
    return null;
  }
  // The first model in the answer: in the head window, or nowhere when the tail window is the whole answer.
  const head = tailFrom === 0 ? tail : decoder.decode(bytes.subarray(0, Math.min(QUICK_HEAD_BYTES, bytes.byteLength)));
  let model: string | null = null;
  for (const re of modelPatterns) {
    const m = re.exec(head)?.[1];
    if (m !== undefined) {
      model = m;
      break;
    }
    // Past the head window this pattern may still match (and would win over the next one): the collector decides.
    if (tailFrom > 0) return null;
  }
  return { model, tokens: tokensOf(usage, rules), estimated: false, found: true };
}

/** The JSON string literal starting at `from` (its opening quote), decoded; null when cut or not JSON. */
function stringAt(text: string, from: number): string | null {
  for (let i = from + 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 92)
      i++; // backslash: skip the escaped character
    else if (ch === 34) {
      try {
        return JSON.parse(text.slice(from, i + 1)) as string;
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * Scans an SSE stream: the last event with usage wins; without one, output
 * tokens are estimated from the text deltas. An event is parsed whole only
 * while the model is unknown (the first one, as a rule) and when it carries
 * usage; a text delta is read as its one string, not by parsing the event
 * (a stream is scanned chunk by chunk in the isolate: this is most of its cost).
 */
export function createSseScanner(rules: UsageRules) {
  const decoder = new TextDecoder();
  let buffered = "";
  let model: string | null = null;
  let tokens: TokenCounts | null = null;
  let deltaChars = 0;
  const { sseUsage, sseDelta } = compiled(rules);

  function onData(data: string) {
    const withUsage = sseUsage.some((k) => data.includes(k));
    if (withUsage || model === null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        return; // `[DONE]` and the like
      }
      model ??= firstString(parsed, rules.modelPaths);
      const usage = withUsage ? firstObject(parsed, rules.usagePaths) : undefined;
      if (usage) tokens = tokensOf(usage, rules);
      else if (tokens === null) {
        const delta = firstString(parsed, rules.deltaPaths);
        if (delta) deltaChars += delta.length;
      }
      return;
    }
    if (tokens !== null) return;
    for (const key of sseDelta) {
      const at = data.indexOf(key);
      if (at < 0) continue;
      const delta = stringAt(data, at + key.length - 1);
      if (delta) {
        deltaChars += delta.length;
        return;
      }
    }
  }

  function onEvent(block: string) {
    // One `data:` line, as providers send it: no split.
    if (block.startsWith("data:") && !block.includes("\n")) {
      onData(block.slice(block.charCodeAt(5) === 32 ? 6 : 5));
      return;
    }
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
    }
    if (data) onData(data);
  }

  function drain() {
    if (buffered.includes("\r")) {
      // A `\r` at the end may be the first half of a `\r\n` split across chunks: kept for the next one.
      const held = buffered.endsWith("\r");
      buffered = (held ? buffered.slice(0, -1) : buffered).replace(/\r\n?/g, "\n") + (held ? "\r" : "");
    }
    let from = 0;
    let at: number;
    while ((at = buffered.indexOf("\n\n", from)) >= 0) {
      onEvent(buffered.slice(from, at));
      from = at + 2;
    }
    if (from) buffered = buffered.slice(from);
  }

  return {
    push(chunk: Uint8Array) {
      buffered += decoder.decode(chunk, { stream: true });
      drain();
    },
    /** A whole stream at once, on a fresh scanner (`readSseStream`). */
    whole: (bytes: Uint8Array): ReadUsage => readSseStream(bytes, rules),
    text(s: string) {
      buffered += s;
      drain();
    },
    modelless: () => model === null,
    end(): ReadUsage {
      buffered = (buffered + decoder.decode()).replace(/\r\n?/g, "\n");
      if (buffered.trim()) onEvent(buffered);
      buffered = "";
      if (tokens) return { model, tokens, estimated: false, found: true };
      return {
        model,
        tokens: { ...zero(), output: Math.ceil(deltaChars / rules.charsPerToken) },
        estimated: true,
        found: false,
      };
    },
  };
}

/**
 * A whole SSE stream at once (its copy collected at its end): the provider's
 * usage sits in one of its last events, so the text is searched from its end
 * for the last event with a usage key, and only that event and the first one
 * (the model, as the scanner takes it) are read; a stream without usage (or
 * whose key was not usage after all) is scanned whole, for the estimate. The
 * same result as `createSseScanner` over the same bytes.
 */
export function readSseStream(bytes: Uint8Array, rules: UsageRules): ReadUsage {
  let text = decoder.decode(bytes);
  if (text.includes("\r")) text = text.replace(/\r\n?/g, "\n");
  let at = -1;
  for (const k of compiled(rules).sseUsage) at = Math.max(at, text.lastIndexOf(k));
  if (at >= 0) {
    const start = text.lastIndexOf("\n\n", at);
    const from = start < 0 ? 0 : start + 2;
    const end = text.indexOf("\n\n", at);
    const last = createSseScanner(rules);
    last.text(text.slice(from, end < 0 ? text.length : end + 2));
    const u = last.end();
    // The model: the first event that names one (the first, as a rule), as the scanner reads them.
    const first = createSseScanner(rules);
    for (let i = 0; i < from && first.modelless();) {
      const next = text.indexOf("\n\n", i);
      const stop = next < 0 || next + 2 > from ? from : next + 2;
      first.text(text.slice(i, stop));
      i = stop;
    }
    const model = first.end().model ?? u.model;
    if (u.found && model !== null) return { ...u, model };
  }
  const scan = createSseScanner(rules);
  scan.text(text);
  return scan.end();
}
