import { randomBytes } from "node:crypto";
import { Collection } from "./collection.ts";
import type { Fault } from "./faults.ts";
import type { Bucket, BucketLimits, BucketStats } from "./rate-limit.ts";
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
  /** A streamed answer: events written of the stream's total, and whether it ran to its end (false: the client left first). */
  stream?: { events: number; written: number; complete: boolean };
}

export interface KeyStats {
  requests: number;
  by_status: Record<string, number>;
  /** Per limit bucket: requests charged, tokens charged, 429s. */
  buckets: Map<string, BucketStats>;
}

/** A model's (or family's) own limits; what it leaves out is the key's default. */
export type ModelLimits = Partial<BucketLimits> & { members?: string[] };

/** Default prompt estimate: ceil(chars / 4). */
export const DEFAULT_CHARS_PER_TOKEN = 4;

export interface Tenant {
  key: string;
  kind: KeyKind;
  orgId: string;
  /** Default per-minute limits of every bucket `models` does not list. */
  requests: Limit;
  tokens: Limit;
  /** Limits per model or family (the key is the bucket name). */
  models: Record<string, ModelLimits>;
  /** Family member → family (bucket) name. */
  memberOf: Map<string, string>;
  charsPerToken: number;
  buckets: Map<string, Bucket>;
  batchStepMs: number;
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

export interface KeyOptions {
  key?: string;
  kind?: KeyKind;
  requests?: Limit;
  tokens?: Limit;
  models?: Record<string, ModelLimits>;
  charsPerToken?: number;
  batchStepMs?: number;
}

function membersIndex(models: Record<string, ModelLimits>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [family, l] of Object.entries(models)) for (const member of l.members ?? []) m.set(member, family);
  return m;
}

export function makeTenant(key: string, kind: KeyKind, opts: KeyOptions = {}): Tenant {
  const models = opts.models ?? {};
  return {
    key,
    kind,
    orgId: "org-" + sha256Hex(key).slice(0, 24),
    requests: opts.requests ?? { ...GENEROUS_REQUESTS },
    tokens: opts.tokens ?? { ...GENEROUS_TOKENS },
    models,
    memberOf: membersIndex(models),
    charsPerToken: opts.charsPerToken ?? DEFAULT_CHARS_PER_TOKEN,
    buckets: new Map(),
    batchStepMs: opts.batchStepMs ?? DEFAULT_BATCH_STEP_MS,
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
  /** The clock of the rate-limit windows (tests in the same process may replace it). */
  now: () => number = Date.now;

  constructor() {
    for (const b of BUILTIN_KEYS) this.tenants.set(b.key, makeTenant(b.key, b.kind));
  }

  /** Creates a key, or changes the given settings of an existing one (its windows keep running). */
  createKey(o: KeyOptions): Tenant {
    const kind = o.kind ?? "standard";
    const key = o.key ?? (kind === "admin" ? newId("sk-admin-sim-", 32) : newId("sk-sim-", 32));
    const existing = this.tenants.get(key);
    if (existing) {
      if (o.kind) existing.kind = o.kind;
      if (o.requests) existing.requests = o.requests;
      if (o.tokens) existing.tokens = o.tokens;
      if (o.models) {
        existing.models = o.models;
        existing.memberOf = membersIndex(o.models);
      }
      if (o.charsPerToken !== undefined) existing.charsPerToken = o.charsPerToken;
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
      s = { requests: 0, by_status: {}, buckets: new Map() };
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
