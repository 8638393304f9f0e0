import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The README's layout table is how a newcomer finds their way: it names every
 * folder of src/ and test/ and every top-level folder of the project, and names
 * none that is gone. (Sub-folders such as src/actions/openai belong to their parent's row.)
 */
const ROOT = resolve(import.meta.dirname, "../..");
/** Generated, installed or local-only: never in the table. */
const IGNORED = new Set(["node_modules", "test-results", ".git", ".wrangler", ".ci"]);

function layoutFolders(): Set<string> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## Layout$/m)[1]?.split(/^## /m)[0] ?? "";
  const rows = section.split("\n").filter((l) => l.startsWith("| `"));
  const firstCells = rows.map((r) => r.split("|")[1] ?? "");
  return new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ""))));
}

const dirsOf = (rel: string) =>
  readdirSync(join(ROOT, rel), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !IGNORED.has(e.name) && !e.name.startsWith("."))
    .map((e) => (rel === "." ? e.name : `${rel}/${e.name}`));

describe("README layout", () => {
  const listed = layoutFolders();

  it("has a table", () => {
    expect(listed.size).toBeGreaterThan(10);
  });

  it("names every folder of src/ and test/ and every top-level folder", () => {
    const expected = [...dirsOf("src"), ...dirsOf("test"), ...dirsOf(".").filter((d) => d !== "src" && d !== "test")];
    expect(expected.filter((d) => !listed.has(d))).toEqual([]);
  });

  it("names no folder that does not exist", () => {
    expect([...listed].filter((d) => !existsSync(join(ROOT, d)))).toEqual([]);
  });
});
