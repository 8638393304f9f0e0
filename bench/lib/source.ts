// Which code is measured: by default the committed HEAD, exported to the run's
// temp dir (so half-finished edits in the shared working tree cannot break or
// skew a run); `--working-tree` measures the files as they are; a commit
// (`--ref=`) is exported the same way as HEAD.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { resolve } from "node:path";

export type Source = { dir: string; label: string; commit: string };

export function prepareSource(root: string, tmp: string, workingTree: boolean): Source {
  if (workingTree) {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    return { dir: root, label: `working tree (HEAD ${commit} + uncommitted changes)`, commit };
  }
  return sourceAt(root, "HEAD", resolve(tmp, "src"));
}

/** `git archive` of one commit into `dir` (node_modules linked from the working tree). */
export function sourceAt(root: string, ref: string, dir: string): Source {
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", ref], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  symlinkSync(resolve(root, "node_modules"), resolve(dir, "node_modules"), "dir");
  const commit = execFileSync("git", ["rev-parse", "--short", ref], { cwd: root, encoding: "utf8" }).trim();
  return { dir, label: ref === "HEAD" ? `HEAD ${commit}` : `${ref} (${commit})`, commit };
}
