import { randomBytes } from "node:crypto";
import { Collection } from "./collection.ts";
import type { Fault } from "./faults.ts";
import type { RateState } from "./rate-limit.ts";
import { newRateState } from "./rate-limit.ts";
import { newId, sha256Hex } from "./util.ts";
import type { Obj } from "./util.ts";

export type KeyKind = "standard" | "restricted" | "quota" | "admin";
export interface Limit {
  limit: number;
  window_ms: number;
}

export interface FileRec {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  status: "uploaded" | "processed" | "error";
  status_details?: string;
  /** Not serialized. */
  content?: Buffer;
  contentType?: string;
}

/** A batch or fine-tuning job: its public JSON plus the timer of its next state change. */
export interface LifecycleRec {
  id: string;
  obj: Obj;
  timer?: NodeJS.Timeout;
  /** Batch: parsed input lines. */
  lines?: unknown[];
}

export interface VectorStoreRec {
  id: string;
  obj: Obj;
  file_ids: string[];
}

export interface WebhookEvent {
  id: string;
  headers: Record<string, string>;
  body: string;
  delivered?: { status: number } | { error: string };
}

export interface RequestLog {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body_size: number;
  body_sha256: string;
  status: number;
  started_at: number;
  ended_at: number | null;
}

export interface KeyStats {
  requests: number;
  by_status: Record<string, number>;
  rl_total: number;
  /** window start → number of 429s in it. */
  rl_windows: Map<string, number>;
}

export interface Tenant {
  key: string;
  kind: KeyKind;
  orgId: string;
  requests: Limit;
  tokens: Limit;
  batchStepMs: number;
  rate: RateState;
  faults: Fault[];
  webhook: { url?: string; secret: string };
  events: WebhookEvent[];
  files: Collection<FileRec>;
  batches: Collection<LifecycleRec>;
  jobs: Collection<LifecycleRec>;
  vectorStores: Collection<VectorStoreRec>;
  responses: Map<string, Obj>;
  projects: Collection<Obj & { id: string }>;
  users: Collection<Obj & { id: string }>;
  /** Number of past days (ending today) with cost data. */
  costDays: number;
}

export const GENEROUS_REQUESTS: Limit = { limit: 1_000_000, window_ms: 60_000 };
export const GENEROUS_TOKENS: Limit = { limit: 1_000_000_000, window_ms: 60_000 };
export const DEFAULT_BATCH_STEP_MS = 2_000;

export function newWebhookSecret(): string {
  return "whsec_" + randomBytes(32).toString("base64");
}

export function makeTenant(key: string, kind: KeyKind, opts: { requests?: Limit; tokens?: Limit; batchStepMs?: number } = {}): Tenant {
  return {
    key,
    kind,
    orgId: "org-" + sha256Hex(key).slice(0, 24),
    requests: opts.requests ?? { ...GENEROUS_REQUESTS },
    tokens: opts.tokens ?? { ...GENEROUS_TOKENS },
    batchStepMs: opts.batchStepMs ?? DEFAULT_BATCH_STEP_MS,
    rate: newRateState(),
    faults: [],
    webhook: { secret: newWebhookSecret() },
    events: [],
    files: new Collection(),
    batches: new Collection(),
    jobs: new Collection(),
    vectorStores: new Collection(),
    responses: new Map(),
    projects: new Collection(),
    users: new Collection(),
    costDays: kind === "admin" ? 30 : 0,
  };
}

export const BUILTIN_KEYS: ReadonlyArray<{ key: string; kind: KeyKind; note: string }> = [
  { key: "sk-test-good", kind: "standard", note: "generous limits" },
  { key: "sk-test-restricted", kind: "restricted", note: "403 on /v1/models (missing api.model.read)" },
  { key: "sk-test-quota", kind: "quota", note: "every call 429 insufficient_quota" },
  { key: "sk-admin-test", kind: "admin", note: "admin key for /v1/organization/*" },
];

/** All state of one simulator instance. */
export class SimState {
  tenants = new Map<string, Tenant>();
  logs = new Map<string, RequestLog[]>();
  stats = new Map<string, KeyStats>();
  timers = new Set<NodeJS.Timeout>();
  /** Per-key request log cap (oldest dropped beyond it). */
  maxLogPerKey = 200_000;

  constructor() {
    for (const b of BUILTIN_KEYS) this.tenants.set(b.key, makeTenant(b.key, b.kind));
  }

  createKey(o: { key?: string; kind?: KeyKind; requests?: Limit; tokens?: Limit; batchStepMs?: number }): Tenant {
    const kind = o.kind ?? "standard";
    const key = o.key ?? (kind === "admin" ? newId("sk-admin-sim-", 32) : newId("sk-sim-", 32));
    const existing = this.tenants.get(key);
    if (existing) {
      if (o.kind) existing.kind = o.kind;
      if (o.requests) existing.requests = o.requests;
      if (o.tokens) existing.tokens = o.tokens;
      if (o.batchStepMs !== undefined) existing.batchStepMs = o.batchStepMs;
      return existing;
    }
    const t = makeTenant(key, kind, o);
    this.tenants.set(key, t);
    return t;
  }

  statsFor(key: string): KeyStats {
    let s = this.stats.get(key);
    if (!s) {
      s = { requests: 0, by_status: {}, rl_total: 0, rl_windows: new Map() };
      this.stats.set(key, s);
    }
    return s;
  }

  logFor(key: string): RequestLog[] {
    let l = this.logs.get(key);
    if (!l) {
      l = [];
      this.logs.set(key, l);
    }
    return l;
  }

  schedule(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }
  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }
  shutdown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
