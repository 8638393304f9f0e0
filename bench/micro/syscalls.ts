#!/usr/bin/env node
// `npx node bench/micro/syscalls.ts [--ref=name=<commit> …] [--requests=N] [--stream]` (issue 13, the c=1
// foreground): the system calls workerd makes per proxied call, counted with `strace -c` on its process
// while N calls go one at a time (c=1), for the bare pass-through Worker and terapi (the deploy bundle at
// HEAD, or each `--ref`, usage on). A count does not stretch with the machine's load as latency and CPU
// time do: each `epoll_wait` is a turn of workerd's event loop that went to the kernel for more to do (a
// round the request's path waits through), each read/write/sendmsg an I/O step.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";
import { keepAliveAgent, send, type Target } from "../lib/http.ts";
import { startFloor } from "../lib/floor.ts";
import { sourceAt } from "../lib/source.ts";
import { startTerapiSide } from "../lib/terapi-side.ts";
import { chatRequest } from "../scenarios/common.ts";
import { startSimulator } from "../../scripts/lib/simulator.ts";
import { stopAllChildren } from "../../scripts/lib/procs.ts";
import { bundle } from "../../scripts/lib/terapi.ts";

const root = resolve(import.meta.dirname, "../..");
const argv = process.argv.slice(2);
const opt = (name: string) => argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const requests = Number(opt("requests")[0] ?? 1000);
const stream = argv.includes("--stream");
const refs = (opt("ref").length ? opt("ref") : ["HEAD"]).map((r) =>
  r.includes("=") ? { name: r.slice(0, r.indexOf("=")), ref: r.slice(r.indexOf("=") + 1) } : { name: r, ref: r },
);
const tmp = mkdtempSync(resolve(os.tmpdir(), "terapi-syscalls-"));
const log = (m: string) => process.stderr.write(`[syscalls] ${m}\n`);

/** `strace -c -f` attached to `pids` while `run` goes; its summary table as { syscall: calls }. */
async function counted(pids: number[], run: () => Promise<void>): Promise<Map<string, number>> {
  const out = resolve(tmp, `strace-${Date.now()}.txt`);
  const child = spawn("strace", ["-c", "-f", "-o", out, ...pids.flatMap((p) => ["-p", String(p)])], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 1_000));
  await run();
  child.kill("SIGINT");
  await new Promise((r) => child.once("exit", r));
  const calls = new Map<string, number>();
  for (const line of readFileSync(out, "utf8").split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    // strace's own "total" row is summed below from the others.
    if (m && m[2] !== "total") calls.set(m[2]!, Number(m[1]));
  }
  return calls;
}

try {
  const sim = await startSimulator(root, log);
  const simKey = await sim.createKey({ requests: { limit: 1e9, window_ms: 60_000 }, tokens: { limit: 1e12, window_ms: 60_000 } });
  const sides: { name: string; target: Target; pids: () => number[]; stop: () => Promise<void> }[] = [];
  const floor = await startFloor({ simUrl: sim.url, apiKey: simKey, compatibilityDate: undefined, directSocket: true });
  sides.push({ name: "bare Worker", target: floor.target, pids: floor.pids, stop: floor.stop });
  for (const [i, r] of refs.entries()) {
    const src = sourceAt(root, r.ref, resolve(tmp, `src-${i}`));
    const b = await bundle(src.dir, resolve(tmp, `b-${i}`));
    const { t, target } = await startTerapiSide({ name: r.name, root: src.dir, bundleDir: b.dir, simUrl: sim.url, simKey });
    sides.push({ name: `${r.name} (${src.commit})`, target, pids: t.pids, stop: t.stop });
  }
  const spec = stream ? chatRequest(true) : chatRequest(false);
  const rows: { name: string; calls: Map<string, number> }[] = [];
  for (const s of sides) {
    const agent = keepAliveAgent(1);
    const one = async () => {
      const x = await send(agent, s.target, spec, { timeoutMs: 30_000 });
      if (x.status !== 200) throw new Error(`${s.name}: ${x.status} ${x.error ?? x.snippet ?? ""}`);
    };
    for (let k = 0; k < 200; k++) await one();
    log(`${s.name}: ${requests} calls under strace`);
    const calls = await counted(s.pids(), async () => {
      for (let k = 0; k < requests; k++) await one();
    });
    agent.destroy();
    rows.push({ name: s.name, calls });
  }
  for (const s of sides) await s.stop();
  await sim.stop();
  const names = [...new Set(rows.flatMap((r) => [...r.calls].filter(([, n]) => n >= requests / 10).map(([k]) => k)))].sort();
  process.stdout.write(
    `\nsystem calls of workerd per proxied call (${stream ? "SSE" : "small JSON"} chat, c=1, ${requests} calls, strace -c -f; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")})\n\n| syscall | ${rows.map((r) => r.name).join(" | ")} |\n| --- |${rows.map(() => " --- |").join("")}\n` +
      [...names, "total"]
        .map(
          (n) =>
            `| ${n} | ${rows
              .map((r) => (n === "total" ? [...r.calls.values()].reduce((a, b) => a + b, 0) : (r.calls.get(n) ?? 0)) / requests)
              .map((x) => x.toFixed(2))
              .join(" | ")} |`,
        )
        .join("\n") +
      "\n",
  );
} finally {
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
