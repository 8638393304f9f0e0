// Child processes, free ports, and memory of the workerd processes under test.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";

/** Ports other people or the test suite use on this machine: never take them. */
const RESERVED_PORTS = new Set([8787, 8080, 9229, 18431, 18501, 18502, 18503]);

/**
 * Ports below the kernel's ephemeral range (Linux's default starts at 32768):
 * a port picked here and released until its server binds it cannot be handed
 * to someone else's listen on port 0 meanwhile (workerd binds its direct
 * sockets on port 0: one once took the inspector port just picked for it,
 * and the run hung).
 */
const PICK_FROM = 20_000;
const PICK_BELOW = 32_768;
/** Ports this process handed out already: two calls never get the same one. */
const handedOut = new Set<number>();

const listens = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });

/** A free port on 127.0.0.1 outside the ephemeral range, probed by listening on it (skips reserved and already handed-out ports). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PICK_FROM + Math.floor(Math.random() * (PICK_BELOW - PICK_FROM));
    if (RESERVED_PORTS.has(port) || handedOut.has(port)) continue;
    if (await listens(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port found");
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type Child = {
  proc: ChildProcess;
  name: string;
  /** The last lines the child wrote (for error messages). */
  tail: () => string;
  /** SIGTERM to the child's process group, SIGKILL after a grace period. */
  stop: () => Promise<void>;
};

const running = new Set<Child>();

/** Spawns `cmd` in its own process group so that stopping it also stops its children (workerd). */
export function startChild(name: string, cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }): Child {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const lines: string[] = [];
  const keep = (buf: Buffer) => {
    for (const line of buf.toString("utf8").split("\n")) if (line.trim()) lines.push(line);
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const child: Child = {
    proc,
    name,
    tail: () => lines.join("\n"),
    stop: async () => {
      running.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      signalGroup(proc.pid, "SIGTERM");
      const timedOut = await Promise.race([exited.then(() => false), sleep(3000).then(() => true)]);
      if (timedOut) {
        signalGroup(proc.pid, "SIGKILL");
        await Promise.race([exited, sleep(1000)]);
      }
    },
  };
  running.add(child);
  return child;
}

function signalGroup(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Stops every child this process started (used on errors, signals and the deadline). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

/** Synchronous last resort on process exit: SIGKILL the groups we started. */
export function killAllChildrenSync(): void {
  for (const c of running) if (c.proc.pid !== undefined && c.proc.exitCode === null) signalGroup(c.proc.pid, "SIGKILL");
}

/** Polls `check` until it resolves true, or throws after `timeoutMs` (naming the child, with its output). */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: Child): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child && child.proc.exitCode !== null) throw new Error(`${child.name} exited (code ${child.proc.exitCode}) before ${what}:\n${child.tail()}`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${child ? `:\n${child.tail()}` : ""}`);
}

type ProcInfo = { pid: number; ppid: number; comm: string };

function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      out.push({ pid: Number(entry), ppid, comm });
    } catch {
      // raced with exit
    }
  }
  return out;
}

/** workerd processes that descend from `rootPid` (Miniflare's and wrangler dev's runtimes). */
export function workerdPids(rootPid: number): number[] {
  const procs = listProcs();
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found: number[] = [];
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.shift() as number;
    for (const c of children.get(pid) ?? []) {
      if (c.comm.startsWith("workerd")) found.push(c.pid);
      queue.push(c.pid);
    }
  }
  return found;
}

/** Resident set size in MiB of a process (0 if it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Total RSS (MiB) of these processes, and how many of them are alive. */
export function totalRss(pids: number[]): { mib: number; processes: number } {
  const alive = pids.map(rssMiB).filter((m) => m > 0);
  return { mib: alive.reduce((a, b) => a + b, 0), processes: alive.length };
}

/** Samples the RSS of `pids()` every `everyMs` and keeps the peak. */
export function rssSampler(pids: () => number[], everyMs = 250) {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, totalRss(pids()).mib);
  }, everyMs);
  timer.unref();
  return {
    peak: () => peak,
    stop: () => clearInterval(timer),
  };
}

/**
 * CPU time (ns) every live thread of these processes has used: the scheduler's own count
 * (/proc/<pid>/task/<tid>/schedstat), not /proc's 10 ms ticks (`cpuMs`), which are too coarse
 * for a per-call figure from a few dozen calls.
 */
export function threadCpuNs(pids: number[]): number {
  let ns = 0;
  forEachThread(pids, (task) => (ns += Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[0])));
  return ns;
}

/** Runs `read` on each live thread's /proc directory (`/proc/<pid>/task/<tid>`) of these processes; a thread or process gone meanwhile is skipped. */
export function forEachThread(pids: number[], read: (task: string, tid: string) => void): void {
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        read(`/proc/${pid}/task/${tid}`, tid);
      } catch {
        // gone
      }
    }
  }
}

/** CPU time (user + system, ms) these processes have used so far; /proc's clock ticks are 10 ms. */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat; `fields` starts at field 3.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10;
}
