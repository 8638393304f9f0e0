#!/usr/bin/env node
// `npx node bench/ladder.ts [--ref=HEAD] [--out=DIR]` (issue 13): the ablation ladder. Exports the commit
// (`git archive`, node_modules linked) into DIR/0-head, then one scratch tree per rung, each the previous
// rung with ONE more part of a proxied call taken out, down to terapi's forward alone and then the bare
// Worker's own code inside terapi's deployment (same wrangler.toml: compatibility date, nodejs_compat,
// bindings, Durable Objects). Prints the `--variant=` arguments for `npm run bench -- --cpu-ab`, so the
// differences between neighbouring rungs, measured interleaved in one run, add up to terapi − bare Worker:
//
//   npm run bench -- --cpu-ab $(npx node bench/ladder.ts --out=/tmp/ladder)                      c=32 CPU/request
//   npm run bench -- --cpu-ab --cpu-concurrency=1 $(npx node bench/ladder.ts --out=/tmp/ladder)  c=1 p50/p99 too
//   npm run bench -- --cpu-ab $(npx node bench/ladder.ts --split --out=/tmp/split)               the log + usage split
//
// The rungs are edits by exact text: when the code moves, an edit that no longer matches stops the tool
// (never a silent no-op rung). The variants are for measuring only: nothing here is a supported mode.
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { exportCommit } from "./cpu-ab.ts";
import { passThroughHeaders } from "./lib/floor.ts";

const root = resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const ref = opt("ref", "HEAD");
const out = resolve(opt("out", "/tmp/terapi-ladder"));

type Edit = { file: string; from: string; to: string };
type Rung = { name: string; what: string; edits: Edit[] };

const HANDLER = "src/proxy/handler.ts";
const INDEX = "src/index.ts";

/** terapi's forward alone: its header hygiene, `sendUpstream` (timer, abort signal) and the caller's Response; the connection read once. */
const FORWARD_ALONE = `
let alone: { provider: NonNullable<ReturnType<typeof getProvider>>; auth: Readonly<Record<string, string>> } | undefined;
export async function forwardAlone(req: Request, env: Env): Promise<Response> {
  const incoming = req.headers;
  if (!alone) {
    const secret = (await connectionCache.get(env, incoming.get("provider-config-key")!, incoming.get("connection-id")!))!;
    const provider = getProvider(secret.provider)!;
    alone = { provider, auth: authHeadersFor(provider, secret) };
  }
  const { path, query } = rawPathAndQuery(req.url);
  const res = await sendUpstream(upstreamUrl(providerBaseUrl(alone.provider, env), path.slice(MOUNT.length), query), {
    method: req.method,
    headers: upstreamRequestHeaders(incoming, alone.auth, alone.provider),
    body: req.body,
    leaveTimer: true,
  });
  return callerResponse(res);
}

/** The bare Worker's script (bench/lib/floor.ts), line for line, in terapi's deployment. */
let bareAuth: string | undefined;
export async function bareAlone(request: Request, env: Env): Promise<Response> {
  if (bareAuth === undefined) {
    const h = request.headers;
    const secret = (await connectionCache.get(env, h.get("provider-config-key")!, h.get("connection-id")!))!;
    bareAuth = authHeadersFor(getProvider(secret.provider)!, secret)["authorization"]!;
  }
${passThroughHeaders("bareAuth")}
  return fetch(env.OPENAI_BASE_URL + path + url.search, { method: request.method, headers, body: request.body });
}
`;

const RUNGS: Rung[] = [
  {
    name: "1-no-log",
    what: "no log record (the line, its buffer, flush, appendLogs, index feed)",
    edits: [
      {
        file: HANDLER,
        from: "tapAnswer(res, usage, (sample, cut) => logProxyAnswer(env, waitUntil, line, res, sample, cut));",
        to: "tapAnswer(res, usage, () => {});",
      },
    ],
  },
  {
    name: "2-no-usage",
    what: "no usage counting (the answer streams through callerResponse, nothing read)",
    edits: [
      {
        file: HANDLER,
        from: "  return tapAnswer(res, usage,",
        to: "  if (usage) return callerResponse(res);\n  return tapAnswer(res, usage,",
      },
    ],
  },
  {
    name: "3-no-body-read",
    what: "the request body not read (no model bucket, no charge: it streams upstream natively)",
    edits: [
      {
        file: HANDLER,
        from: "const keep = options.retries > 0 || namesModel(provider.rateLimit, path);",
        to: "const keep = false && namesModel(provider.rateLimit, path);",
      },
    ],
  },
  {
    name: "4-no-ratelimit",
    what: "no rate-limit view (no route, begin/finish, observation, report: forward = sendUpstream + the caller's copy)",
    edits: [
      {
        file: "src/proxy/forward.ts",
        from: "  return async function forward(req: ForwardRequest): Promise<Response> {\n",
        to:
          "  return async function forward(req: ForwardRequest): Promise<Response> {\n" +
          "    if (req.url) {\n" +
          "      const res = await sendUpstream(req.url, { method: req.method, headers: req.headers, body: req.body, leaveTimer: true });\n" +
          "      return req.keepAnswer && res.status < 400 ? res : passThrough(res);\n" +
          "    }\n",
      },
    ],
  },
  {
    name: "5-fixed-connection",
    what: "a fixed connection (read once, no cache lookup per call)",
    edits: [
      {
        file: HANDLER,
        from: "  const hit = connectionCache.cached(providerConfigKey, connectionId);\n  const secret = hit !== undefined ? hit : await connectionCache.get(env, providerConfigKey, connectionId);\n",
        to: "  const secret = (fixedSecret ??= await connectionCache.get(env, providerConfigKey, connectionId));\n",
      },
      { file: HANDLER, from: 'const MOUNT = "/proxy";\n', to: 'const MOUNT = "/proxy";\nlet fixedSecret: Awaited<ReturnType<typeof connectionCache.get>>;\n' },
    ],
  },
  {
    name: "6-no-secret-key",
    what: "no secret-key check",
    edits: [{ file: INDEX, from: "proxyFastPath(req, env, ctx, authorizeSecretKey,", to: "proxyFastPath(req, env, ctx, () => undefined," }],
  },
  {
    name: "7-forward-alone",
    what: "no handler (entry, method/header/path checks, provider, retry options, async test): a bare fetch handler calling terapi's forward",
    edits: [
      { file: HANDLER, from: "const headless = ", to: `import { sendUpstream } from "./upstream";\n${FORWARD_ALONE}\nconst headless = ` },
      {
        file: INDEX,
        from: "  fetch: (req, env, ctx) =>\n",
        to: '  fetch: (req, env, ctx) =>\n    (req.url.includes("/proxy/") ? forwardAlone(req, env) : null) ??\n',
      },
      { file: INDEX, from: 'import { proxyFastPath } from "./proxy/handler";', to: 'import { forwardAlone, proxyFastPath } from "./proxy/handler";' },
    ],
  },
  {
    name: "8-no-timer",
    what: "terapi's forward with a plain fetch: no headers timer, no AbortController",
    edits: [
      {
        file: HANDLER,
        from: "  const res = await sendUpstream(upstreamUrl(",
        to: "  const res = await fetch(upstreamUrl(",
      },
      {
        file: HANDLER,
        from: "    body: req.body,\n    leaveTimer: true,\n  });\n  return callerResponse(res);",
        to: '    body: req.body,\n    redirect: "manual",\n  });\n  return callerResponse(res);',
      },
    ],
  },
  {
    name: "9-no-response-copy",
    what: "the provider's Response returned as it is (hop-by-hop headers left in)",
    edits: [{ file: HANDLER, from: '    redirect: "manual",\n  });\n  return callerResponse(res);', to: '    redirect: "manual",\n  });\n  return res;' }],
  },
  {
    name: "10-bare-in-terapi",
    what: "the bare Worker's code in terapi's deployment (its compatibility date and flags, bindings, objects)",
    edits: [
      { file: INDEX, from: "? forwardAlone(req, env) :", to: "? bareAlone(req, env) :" },
      { file: INDEX, from: "import { forwardAlone, ", to: "import { bareAlone, forwardAlone, " },
    ],
  },
];

const RECORD = "src/logs/record.ts";
const TAP = "src/usage/tap.ts";

/**
 * `--split` (h-c32): the log record and usage counting of a small JSON answer, taken apart from the far
 * end inwards, one part per rung (cumulative, from HEAD), so that neighbouring rungs' difference is one part:
 * the index's D1 write, then the whole index feed (Queue send, consumer, D1), the connection object's write, the flush (its stored lines and
 * the `appendLogs` RPC), the buffer and its timers, reading a small answer whole (the answer passed
 * through instead), and last the request's own synchronous work (the sample, the line). The last rung is
 * the ladder's 2-no-usage. (Commits before 526f06b collected a tee branch instead: their split was made
 * with this tool at b747b61, rungs s5-no-tee and s6-no-promise.)
 */
const SPLIT: Rung[] = [
  {
    name: "s0-no-index-write",
    what: "the index's consumer acks its batch without the D1 write (the Queue send and the consumer event kept)",
    edits: [
      {
        file: "src/ops-index/consumer.ts",
        from: "  try {\n    await writeIndexBatch(",
        to: "  if (batch.messages.length >= 0) return batch.ackAll();\n  try {\n    await writeIndexBatch(",
      },
    ],
  },
  {
    name: "s1-no-index-feed",
    what: "the flush does not feed the index (no Queue send, no consumer, no D1 write)",
    edits: [{ file: RECORD, from: "  if (fresh.length > 0)\n    await feedIndex(", to: "  if (fresh.length < 0)\n    await feedIndex(" }],
  },
  {
    name: "s2-no-object-write",
    what: "appendLogs answers at once (the RPC and its structured clone kept; no SQLite, no usage upserts)",
    edits: [
      {
        file: "src/durable-objects/connection.ts",
        from: "  async appendLogs(entries: LogEntry[], usage?: UsageBatch): Promise<{ stored: number; folded: string[] }> {\n",
        to: "  async appendLogs(entries: LogEntry[], usage?: UsageBatch): Promise<{ stored: number; folded: string[] }> {\n    if (entries.length >= 0) return { stored: entries.length, folded: [] };\n",
      },
    ],
  },
  {
    name: "s3-no-flush",
    what: "the flush drops its batch (no stored lines made, no RPC; the buffer and its timers kept)",
    edits: [
      {
        file: RECORD,
        from: "  buffers.delete(key);\n  if (buf.lines.length === 0 && buf.usage.length === 0) return;",
        to: "  buffers.delete(key);\n  if (buf.lines.length >= 0) return;",
      },
    ],
  },
  {
    name: "s4-no-buffer",
    what: "recordCall returns at once (no buffer, no flush timer, no waitUntil of the log)",
    edits: [
      {
        file: RECORD,
        from: "export function recordCall(env: Env, waitUntil: WaitUntil, input: OperationInput, usage: UsageSample | null): void {\n",
        to: "export function recordCall(env: Env, waitUntil: WaitUntil, input: OperationInput, usage: UsageSample | null): void {\n  if (input) return;\n",
      },
    ],
  },
  {
    name: "s5-no-read",
    what: "a small answer not read: passed through natively, a fixed sample recorded at once",
    edits: [
      {
        file: TAP,
        from: "    if (length !== null && length <= WHOLE_READ_LIMIT) return readWhole(res, call, rules, at, copy, logged);",
        to:
          "    if (length !== null && length <= WHOLE_READ_LIMIT) {\n" +
          '      logged({ at, source: call.source, error: false, model: "unknown", input: 0, cachedInput: 0, output: 0, reasoning: 0, estimated: false }, false);\n' +
          "      return copy(res, res.body);\n" +
          "    }",
      },
    ],
  },
  { ...RUNGS[1]!, name: "s6-no-usage-no-log", what: "no log line and no usage at all (the ladder's 2-no-usage)" },
];

function apply(dir: string, e: Edit): void {
  const path = resolve(dir, e.file);
  const text = readFileSync(path, "utf8");
  const at = text.indexOf(e.from);
  if (at < 0 || text.indexOf(e.from, at + 1) >= 0)
    throw new Error(`ladder: ${e.file}: the text to edit is not found exactly once: ${JSON.stringify(e.from.slice(0, 80))}`);
  writeFileSync(path, text.slice(0, at) + e.to + text.slice(at + e.from.length));
}

if (existsSync(out)) rmSync(out, { recursive: true });
const head = resolve(out, "0-head");
exportCommit(root, ref, head);
let prev = head;
const dirs: string[] = [];
for (const rung of argv.includes("--split") ? SPLIT : RUNGS) {
  const dir = resolve(out, rung.name);
  cpSync(prev, dir, { recursive: true, verbatimSymlinks: true });
  for (const e of rung.edits) apply(dir, e);
  process.stderr.write(`[ladder] ${rung.name}: ${rung.what}\n`);
  dirs.push(dir);
  prev = dir;
}
process.stdout.write(`${[head, ...dirs].map((d) => `--variant=${d}`).join(" ")}\n`);
