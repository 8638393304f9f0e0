// The processes one comparison runs against: terapi, the bare Worker and terapi with usage
// counting off, each its own fresh workerd. Table 1 measures its small differences (scenarios
// a and c) on several such sets started one after the other, because one process's offset
// (which core, memory layout, JIT luck) moves a p50 by more than the targets (bench/README.md
// "Paired processes"). `--aa` puts a copy of terapi where the bare Worker and usage-off terapi
// would be, so that every difference is the method's own noise. `--need` puts the floor of the required
// work (bench/lib/need.ts) where terapi would be (and with `--aa`, a copy of it where the bare Worker would be).
import { execFileSync } from "node:child_process";
import { startFloor } from "./floor.ts";
import type { Target } from "./http.ts";
import { NEED_SCRIPT } from "./need.ts";
import { startTerapiSide } from "./terapi-side.ts";

export type SetRole = "terapi" | "floor" | "off";

/** One started side: what to call, its workerd processes (RSS, pinning), its inspector, how to stop it. */
export type Started = { target: Target; pids: () => number[]; inspector?: { port: number; worker: string }; stop: () => Promise<void> };

export type SetOptions = {
  root: string;
  bundleDir: string;
  simUrl: string;
  simKey: string;
  directSocket: boolean;
  compatibilityDate: string | undefined;
  /** `--usage-ab`: terapi counts usage ("on"), the off side does not. */
  usageAb: boolean;
  /** `--aa`: the floor and off sides are copies of terapi (same build, same usage setting). */
  aa: boolean;
  /** `--need`: the need-floor Worker (bench/lib/need.ts) is started in terapi's place (with `--aa` in the bare Worker's too). */
  need: boolean;
  /** `--pin=<cpus>`: every workerd of the set is pinned to these CPUs (`taskset -a -p -c`), all sides alike. */
  pin?: string;
};

/** The side's name in the tables and error messages. */
export function sideName(role: SetRole, o: Pick<SetOptions, "aa" | "need">): string {
  if (role === "terapi") return o.need ? "need floor (in terapi's place)" : "terapi";
  if (role === "floor") return o.aa ? (o.need ? "need floor (A/A copy)" : "terapi (A/A copy)") : "bare workerd proxy";
  return o.aa ? "terapi, usage on (A/A copy)" : "terapi, usage off";
}

/** One side of a set, fresh. */
export async function startSide(role: SetRole, o: SetOptions): Promise<Started> {
  const name = sideName(role, o);
  const need = o.need && (role === "terapi" || (role === "floor" && o.aa));
  if (need || (role === "floor" && !o.aa)) {
    const f = await startFloor({
      simUrl: o.simUrl,
      apiKey: o.simKey,
      compatibilityDate: o.compatibilityDate,
      directSocket: o.directSocket,
      ...(need ? { script: NEED_SCRIPT } : {}),
    });
    return { ...f, target: { ...f.target, name } };
  }
  // terapi's usage setting: `--usage-ab` says on for terapi and off for the off side (on for its A/A copy);
  // otherwise the environment's (TERAPI_USAGE), the same for terapi and its A/A copy.
  const usage = o.usageAb ? (role === "off" && !o.aa ? "off" : "on") : undefined;
  const { t, target } = await startTerapiSide({
    name,
    root: o.root,
    bundleDir: o.bundleDir,
    simUrl: o.simUrl,
    simKey: o.simKey,
    usage,
    directSocket: o.directSocket,
  });
  return { target, pids: t.pids, inspector: t.inspector, stop: t.stop };
}

/** Pins a side's workerd processes, every thread, to `cpus`. */
function pin(s: Started, cpus: string): void {
  for (const pid of s.pids()) execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}

/**
 * Set number `k` of a run: `roles` started one after the other, in reverse order on odd `k`, so that
 * of any two sides each is started first in every other set.
 */
export async function startSet(
  k: number,
  roles: SetRole[],
  o: SetOptions,
): Promise<{ sides: Map<SetRole, Started>; order: SetRole[]; stop: () => Promise<void> }> {
  const order = k % 2 === 1 ? [...roles].reverse() : [...roles];
  const sides = new Map<SetRole, Started>();
  const stop = async () => {
    for (const s of sides.values()) await s.stop().catch(() => {});
  };
  try {
    for (const role of order) {
      const s = await startSide(role, o);
      sides.set(role, s);
      if (o.pin) pin(s, o.pin);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { sides, order, stop };
}
