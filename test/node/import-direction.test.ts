import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Imports run one way: src/durable-objects composes the features (proxy,
 * jobs, sync, actions, logs, events, webhooks, usage, …) and no feature
 * imports it back. Only the Worker's entry (which exports the classes) and
 * the bindings (which type the stubs by the classes' RPC methods, as the
 * generated Env does) name it, and the bindings only with `import type`.
 */
const SRC = resolve(import.meta.dirname, "../../src");
const OBJECTS = join(SRC, "durable-objects");
const IMPORT = /^\s*(import|export)\s+(type\s+)?[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Every relative import of `file` that lands in src/durable-objects, and whether it is type-only. */
function objectImports(file: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
    const spec = m[3] ?? m[4];
    if (!spec?.startsWith(".")) continue;
    const target = resolve(dirname(file), spec);
    if (target === OBJECTS || target.startsWith(`${OBJECTS}/`)) out.push({ spec, typeOnly: m[2] !== undefined });
  }
  return out;
}

describe("import direction", () => {
  it("no feature imports from src/durable-objects", () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file);
      if (rel.startsWith("durable-objects/")) continue;
      for (const imp of objectImports(file)) {
        const allowed = rel === "index.ts" || (rel.startsWith("bindings/") && imp.typeOnly);
        if (!allowed) offenders.push(`${rel} imports ${imp.spec}${imp.typeOnly ? " (type)" : ""}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("the check sees a back-import when there is one", () => {
    // The regex must catch every import form the code base uses, or the test above could not fail.
    const sample = `import { a } from "../durable-objects/x";\nimport type { B } from "../durable-objects/y";\nexport { C } from "./durable-objects/z";\nconst d = await import("../durable-objects/w");`;
    const specs = [...sample.matchAll(IMPORT)].map((m) => [m[3] ?? m[4], m[2] !== undefined]);
    expect(specs).toEqual([
      ["../durable-objects/x", false],
      ["../durable-objects/y", true],
      ["./durable-objects/z", false],
      ["../durable-objects/w", false],
    ]);
  });
});
