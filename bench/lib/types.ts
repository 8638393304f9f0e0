import type http from "node:http";
import type { RequestSpec, Sample, Target } from "./http.ts";
import type { Paired } from "./stats.ts";
import type { Simulator } from "../../scripts/lib/simulator.ts";

export type Mode = "miniflare" | "wrangler-dev";

/** One line of the results table. `direct` is null where only terapi makes sense. */
export type Row = {
  scenario: string;
  metric: string;
  unit: "ms" | "req/s" | "count" | "s" | "MiB" | "KiB" | "records/s";
  direct: number | null;
  terapi: number | null;
  /** The same figure through a bare pass-through Worker on workerd (the cost of any workerd hop), where measured. */
  floor?: number | null;
  /** The same figure through a second terapi with usage counting off (`--usage-ab`), where measured. */
  off?: number | null;
  /** How terapi is compared with direct: both as a ratio, and for latencies also the difference. */
  compare: "added" | "ratio" | "none";
  target?: { text: string; pass: boolean };
  /** The target's difference measured once per fresh process pair (table 1's a and c): the target is judged on its median. */
  pairs?: Paired;
  note?: string;
};

export type ScenarioResult = {
  rows: Row[];
  /** Anything that makes the figures untrustworthy (non-2xx, transport errors): the run exits non-zero. */
  errors: string[];
  /** Set when the scenario could not run here (feature not built yet, no time left): not an error. */
  skipped?: string;
  /** Raw figures for results.json. */
  details?: Record<string, unknown>;
};

/** Everything a scenario needs; both targets take the same requests through the same client. */
export type BenchContext = {
  mode: Mode;
  quick: boolean;
  /** The simulator directly, with the benchmark key. */
  direct: Target;
  /** terapi's proxy (`<origin>/proxy`) with the secret key and the connection headers. */
  terapi: Target;
  /** A bare pass-through Worker on its own workerd, when this mode measures one. */
  floor?: Target;
  /** A second terapi (same bundle and set-up) with `TERAPI_USAGE=off` (`--usage-ab`): measured as one more side. */
  usageOff?: Target;
  /** `--aa`: `floor` and `usageOff` are copies of terapi itself (same build, same usage setting), so every difference is the method's own noise. */
  aa: boolean;
  /** How many process pairs the paired scenarios' measure is spread over (1: one set of processes, the whole sample on it). */
  pairs: number;
  /** `--block=N`: requests per side per block in the paired scenarios (default: theirs); 1 alternates the sides request by request. */
  block?: number;
  /** `--need`: each workerd side's processes, so that b reports their CPU time per request (`Side.cpuMs`). */
  cpu?: Partial<Record<Role, () => number[]>>;
  terapiOrigin: string;
  /** The request the latency scenarios send (a small chat completion; GET /health in --smoke). */
  request: (stream: boolean) => RequestSpec;
  secretKey: string;
  integration: string;
  connectionId: string;
  simKey: string;
  sim: Simulator;
  /** Creates one more connection (e.g. on a key with small limits) on the same integration. */
  createConnection: (connectionId: string, apiKey: string) => Promise<void>;
  /** performance.now() by which the whole run must be done. */
  deadline: number;
  log: (msg: string) => void;
};

/**
 * A benchmark scenario. To add one (e.g. the sync figures), export a Scenario
 * and list it in bench/scenarios/index.ts; it runs against each mode it names.
 */
export type Scenario = {
  id: string;
  title: string;
  modes: Mode[];
  /** Rough upper bound of the scenario's run time, to skip it rather than overrun the deadline. */
  budgetMs: (quick: boolean) => number;
  run: (ctx: BenchContext) => Promise<ScenarioResult>;
  /**
   * Set when the scenario's targets are small differences (a, c): table 1 then measures it on several fresh
   * process pairs instead of `run`, `measure` once on each pair (the context's targets are that pair's), and
   * `report` judges the targets on the median of the per-pair differences. `run` is `report` of one `measure`.
   */
  paired?: {
    measure: (ctx: BenchContext) => Promise<Side[]>;
    report: (pairs: Side[][]) => ScenarioResult;
  };
};

/** Who a side of a comparison is: the simulator directly, terapi, the bare Worker, terapi with usage off. */
export type Role = "direct" | "terapi" | "floor" | "off";
/** One side of an interleaved measure: its target, its own keep-alive agent and what it measured. */
export type Side = {
  role: Role;
  target: Target;
  agent: http.Agent;
  samples: Sample[];
  elapsedMs: number;
  /** CPU time (utime + stime, ms) of the side's workerd processes during its own blocks, when measured (`BenchContext.cpu`). */
  cpuMs?: number;
};
