#!/usr/bin/env node
// `npx node bench/micro/primitives.ts [--ref=HEAD] [--out=DIR] [names…]` (issue 13, the c=1 foreground): the
// bare pass-through Worker's script (bench/lib/floor.ts) inside terapi's deployment, once as it is and once
// per workerd primitive a proxied call adds to it (the request body read before the fetch, the headers timer,
// an AbortController's signal, the caller's Response copy, a tee of the answer collected beside it). Each is a
// tree exported from the commit with src/index.ts sending `/proxy/*` to that script; prints the `--refs=` of
// `npm run bench -- --streams`, which measures them paired request by request:
//
//   npm run bench -- --streams --json --no-off --refs=$(npx node bench/micro/primitives.ts --out=/tmp/primitives)
//
// The floor of issues 10 and 16 (`whole`, `pipe`, `needjson`, `needsse`: what any Worker that reads the model before
// sending and the usage of every answer must do; bench/README.md, "The floor of the required work"):
//
//   npm run bench -- --streams --json --no-off --refs=$(npx node bench/micro/primitives.ts --out=/tmp/prim bare whole bodyparse needjson | sed 's/^bare=/script=/'),head=HEAD --rounds=40 --per-round=30
//   npm run bench -- --streams --no-off --refs=$(npx node bench/micro/primitives.ts --out=/tmp/prim bare pipe bodyparse needsse | sed 's/^bare=/script=/'),head=HEAD --rounds=40 --per-round=30
//
// Measuring only: nothing here is a supported mode.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { exportCommit } from "../cpu-ab.ts";
import { passThroughHeaders } from "../lib/floor.ts";

const root = resolve(import.meta.dirname, "../..");
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const out = resolve(opt("out", "/tmp/terapi-primitives"));
const ref = opt("ref", "HEAD");

/** The bare script's request, with the connection's key read once (as bench/ladder.ts's `bareAlone`). */
const PRELUDE = `
import { connectionCache as __cc } from "./connections/cache";
import { getProvider as __gp } from "./providers/catalog";
import { authHeadersFor as __ah } from "./proxy/headers";
let __auth: string | undefined;
async function __prepare(request: Request, env: Env) {
  if (__auth === undefined) {
    const h = request.headers;
    const secret = (await __cc.get(env, h.get("provider-config-key")!, h.get("connection-id")!))!;
    __auth = __ah(__gp(secret.provider)!, secret)["authorization"]!;
  }
${passThroughHeaders("__auth")}
  return { target: env.OPENAI_BASE_URL + path + url.search, headers };
}
`;
const SEND = "fetch(target, { method: request.method, headers, body: request.body })";
const MODEL =
  'const body = await request.arrayBuffer();\n  if (!(JSON.parse(new TextDecoder().decode(body)) as { model?: string }).model) throw new Error("no model");';
const WHOLE =
  "const bytes = await res.arrayBuffer();\n" +
  '  if (!(JSON.parse(new TextDecoder().decode(bytes)) as { usage?: unknown }).usage) throw new Error("no usage");\n' +
  "  return new Response(bytes, res);";
const PIPE =
  "const [a, b] = res.body!.tee();\n  const out = new IdentityTransformStream();\n" +
  "  ctx.waitUntil(a.pipeTo(out.writable).then(() => new Response(b).text()).then((t) => {\n" +
  '    if (t.lastIndexOf("data:") < 0) throw new Error("not a stream");\n  }));\n' +
  "  return new Response(out.readable, res);";
const VARIANTS: Record<string, string> = {
  bare: `return ${SEND};`,
  body: "const body = await request.arrayBuffer();\n  return fetch(target, { method: request.method, headers, body });",
  bodyparse:
    'const body = await request.arrayBuffer();\n  if (!(JSON.parse(new TextDecoder().decode(body)) as { model?: string }).model) throw new Error("no model");\n' +
    "  return fetch(target, { method: request.method, headers, body });",
  bodyview:
    'const body = await request.arrayBuffer();\n  if (new Uint8Array(body, 0, 1)[0] !== 0x7b) throw new Error("not JSON");\n' +
    "  return fetch(target, { method: request.method, headers, body });",
  bodydecode:
    'const body = await request.arrayBuffer();\n  if (new TextDecoder().decode(body).length === 0) throw new Error("empty");\n' +
    "  return fetch(target, { method: request.method, headers, body });",
  bodylatin:
    'const body = await request.arrayBuffer();\n  const u8 = new Uint8Array(body);\n  let text = "";\n  for (let i = 0; i < u8.length; i += 4096) text += String.fromCharCode(...u8.subarray(i, i + 4096));\n' +
    '  if (!(JSON.parse(text) as { model?: string }).model) throw new Error("no model");\n  return fetch(target, { method: request.method, headers, body });',
  timer: `setTimeout(() => {}, 600_000);\n  return ${SEND};`,
  signal:
    "const c = new AbortController();\n  setTimeout(() => c.abort(), 600_000);\n" +
    '  return fetch(target, { method: request.method, headers, body: request.body, signal: c.signal, redirect: "manual" });',
  awaited: `const res = await ${SEND};\n  return res;`,
  timerclear: `const t = setTimeout(() => {}, 600_000);\n  const res = await ${SEND};\n  clearTimeout(t);\n  return res;`,
  copy: `const res = await ${SEND};\n  return new Response(res.body, res);`,
  tee: `const res = await ${SEND};\n  const [a, b] = res.body!.tee();\n  ctx.waitUntil(new Response(b).arrayBuffer());\n  return new Response(a, res);`,
  // What issues 10 and 16 need of any Worker, and no more (the floor of their behaviour): the model read from the
  // request before it is sent (per-model limits), the usage read from the answer (a small JSON answer whole, a
  // stream through a native tee and pipe, its copy read at the end), the caller answered with the same bytes.
  whole: `const res = await ${SEND};\n  ${WHOLE}`,
  pipe: `const res = await ${SEND};\n  ${PIPE}`,
  needjson: `${MODEL}\n  const res = await fetch(target, { method: request.method, headers, body });\n  ${WHOLE}`,
  needsse: `${MODEL}\n  const res = await fetch(target, { method: request.method, headers, body });\n  ${PIPE}`,
};
const names = argv.filter((a) => !a.startsWith("--"));
const chosen = names.length ? names : Object.keys(VARIANTS);

if (existsSync(out)) rmSync(out, { recursive: true });
const refs: string[] = [];
for (const name of chosen) {
  const code = VARIANTS[name];
  if (!code) throw new Error(`primitives: no variant '${name}' (have ${Object.keys(VARIANTS).join(", ")})`);
  const dir = resolve(out, name);
  exportCommit(root, ref, dir);
  const index = resolve(dir, "src/index.ts");
  const text = readFileSync(index, "utf8");
  const entry = "  fetch: (req, env, ctx) =>\n";
  if (text.split(entry).length !== 2) throw new Error("primitives: src/index.ts's fetch entry is not found exactly once");
  const fn = `async function __variant(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {\n  const { target, headers } = await __prepare(request, env);\n  ${code}\n}\n`;
  writeFileSync(index, PRELUDE + fn + text.replace(entry, `${entry}    (req.url.includes("/proxy/") ? __variant(req, env, ctx) : null) ??\n`));
  refs.push(`${name}=${dir}`);
}
process.stdout.write(`${refs.join(",")}\n`);
