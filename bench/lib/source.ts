// Which code is measured: by default the committed HEAD, exported to the run's
// temp dir (so half-finished edits in the shared working tree cannot break or
// skew a run); `--working-tree` measures the files as they are.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { resolve } from "node:path";

export type Source = { dir: string; label: string; commit: string };

export function prepareSource(root: string, tmp: string, workingTree: boolean): Source {
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  if (workingTree) return { dir: root, label: `working tree (HEAD ${commit} + uncommitted changes)`, commit };
  const dir = resolve(tmp, "src");
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", "HEAD"], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  symlinkSync(resolve(root, "node_modules"), resolve(dir, "node_modules"), "dir");
  return { dir, label: `HEAD ${commit}`, commit };
}
