// Shared helpers for the simulator's own tests (Node project): start an
// instance on a random port, call it, and validate bodies against OpenAI's
// OpenAPI description.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020";
import type { ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { startSimulator } from "../simulator/server.ts";
import type { SimulatorHandle } from "../simulator/server.ts";

export const OPENAPI_PATH = "/work/shared/openai-openapi/openapi.yaml";

export async function startSim(): Promise<SimulatorHandle> {
  return startSimulator({ port: 0, host: "127.0.0.1" });
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export function client(url: string, key: string) {
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${key}`, ...headers } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const r = await fetch(url + path, init);
    const text = await r.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: r.status, headers: r.headers, text, json };
  }
  return {
    key,
    get: (p: string, h?: Record<string, string>) => call("GET", p, undefined, h),
    post: (p: string, b?: unknown, h?: Record<string, string>) => call("POST", p, b, h),
    del: (p: string) => call("DELETE", p),
    call,
  };
}

export async function control<T = unknown>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(url + path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const j = (await r.json()) as T;
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(j)}`);
  return j;
}

export async function newKey(url: string, opts: Record<string, unknown> = {}): Promise<string> {
  return (await control<{ key: string }>(url, "POST", "/__sim/keys", opts)).key;
}

/** Parses an SSE body into events (event name + parsed data). */
export function parseSse(text: string): Array<{ event?: string; data: string }> {
  const out: Array<{ event?: string; data: string }> = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim()) continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    out.push({ event, data: data.join("\n") });
  }
  return out;
}

type Node = Record<string, unknown>;

/** OpenAPI 3.0 leftovers in the 3.1 file → JSON Schema 2020-12. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (!v || typeof v !== "object") return v;
  const o: Node = {};
  for (const [k, x] of Object.entries(v as Node)) {
    if (k === "discriminator" || k === "example" || k === "examples" || k.startsWith("x-")) continue;
    o[k] = normalize(x);
  }
  if (o.exclusiveMinimum === true) {
    o.exclusiveMinimum = o.minimum ?? 0;
    delete o.minimum;
  } else if (o.exclusiveMinimum === false) delete o.exclusiveMinimum;
  if (o.exclusiveMaximum === true) {
    o.exclusiveMaximum = o.maximum;
    delete o.maximum;
  } else if (o.exclusiveMaximum === false) delete o.exclusiveMaximum;
  if (o.nullable === true) {
    delete o.nullable;
    if (Array.isArray(o.enum) && !o.enum.includes(null)) o.enum = [...o.enum, null];
    if (typeof o.type === "string") o.type = [o.type, "null"];
    else if (o.$ref || o.anyOf || o.oneOf || o.allOf) return { anyOf: [o, { type: "null" }] };
  } else if ("nullable" in o) delete o.nullable;
  return o;
}

export interface OpenApi {
  /** Validator for a documented response body. */
  response(path: string, method: string, status: number, contentType?: string): ValidateFunction;
  schema(name: string): ValidateFunction;
  /** The ResponseStreamEvent member whose `type` is this event type. */
  responseEvent(type: string): ValidateFunction;
  errors(v: ValidateFunction): string;
}

let cached: OpenApi | null = null;

export function loadOpenApi(): OpenApi {
  if (cached) return cached;
  const doc = normalize(parse(readFileSync(OPENAPI_PATH, "utf8"))) as Node;
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateSchema: false, allowUnionTypes: true });
  addFormats(ajv);
  for (const f of ["unixtime", "float", "double", "int32", "int64", "binary", "byte"]) ajv.addFormat(f, true);
  ajv.addSchema({ ...doc, $id: "openapi" }, undefined, undefined, false);
  const paths = doc.paths as Record<string, Record<string, Node>>;
  const compiled = new Map<string, ValidateFunction>();
  const esc = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");
  const compile = (pointer: string): ValidateFunction => {
    let v = compiled.get(pointer);
    if (!v) {
      v = ajv.compile({ $ref: `openapi#${pointer}` });
      compiled.set(pointer, v);
    }
    return v;
  };
  cached = {
    response(path, method, status, contentType = "application/json") {
      const op = paths[path]?.[method.toLowerCase()];
      if (!op) throw new Error(`not documented: ${method} ${path}`);
      const responses = op.responses as Record<string, Node>;
      let r = responses[String(status)];
      if (!r) {
        if (status >= 400) return compile("/components/schemas/ErrorResponse");
        throw new Error(`status ${status} not documented for ${method} ${path}`);
      }
      let base = `/paths/${esc(path)}/${method.toLowerCase()}/responses/${status}`;
      if (typeof r.$ref === "string") {
        base = r.$ref.slice(1);
        r = (doc.components as Record<string, Record<string, Node>>).responses[r.$ref.split("/").pop() as string];
      }
      const content = r.content as Record<string, Node> | undefined;
      if (!content?.[contentType]) throw new Error(`no ${contentType} schema for ${status} ${method} ${path}`);
      return compile(`${base}/content/${esc(contentType)}/schema`);
    },
    schema(name) {
      return compile(`/components/schemas/${name}`);
    },
    responseEvent(type) {
      const schemas = (doc.components as Record<string, Record<string, Node>>).schemas;
      for (const m of (schemas.ResponseStreamEvent.anyOf as Node[]) ?? []) {
        const name = String(m.$ref).split("/").pop() as string;
        const t = ((schemas[name]?.properties as Record<string, Node> | undefined)?.type?.enum as string[] | undefined)?.[0];
        if (t === type) return compile(`/components/schemas/${name}`);
      }
      throw new Error(`no ResponseStreamEvent member for ${type}`);
    },
    errors(v) {
      return JSON.stringify(v.errors?.slice(0, 5), null, 1);
    },
  };
  return cached;
}
