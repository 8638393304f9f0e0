import { ensureDefaults, projectObject, userObject } from "./routes/admin.ts";
import { batchObject } from "./routes/batches.ts";
import { seededFileBytes } from "./routes/files.ts";
import { jobObject } from "./routes/fine-tuning.ts";
import { vectorStoreRec } from "./routes/vector-stores.ts";
import type { Tenant } from "./state.ts";
import { newId, nowSec } from "./util.ts";

export interface SeedRequest {
  files?: number;
  batches?: number;
  fine_tuning_jobs?: number;
  vector_stores?: number;
  projects?: number;
  users?: number;
  cost_days?: number;
}

const FILE_PURPOSES = ["batch", "fine-tune", "assistants", "user_data", "vision"];
const BATCH_STATUSES = ["completed", "completed", "completed", "failed", "cancelled", "expired"];
const JOB_STATUSES = ["succeeded", "succeeded", "failed", "cancelled"];

/** Bulk-adds static (non-progressing) objects; returns how many of each were added. */
export function seed(t: Tenant, s: SeedRequest): Record<string, number> {
  const now = nowSec();
  const out: Record<string, number> = {};
  const n = (k: keyof SeedRequest) => Math.max(0, Math.floor(s[k] ?? 0));
  const files = n("files");
  for (let i = 0; i < files; i++) {
    const id = newId("file-", 22);
    t.files.add({
      id,
      object: "file",
      bytes: seededFileBytes(id),
      created_at: now - files + i,
      filename: `seed-${i}.jsonl`,
      purpose: FILE_PURPOSES[i % FILE_PURPOSES.length],
      status: "processed",
    });
  }
  out.files = files;
  const batches = n("batches");
  for (let i = 0; i < batches; i++) {
    const created = now - batches + i;
    const status = BATCH_STATUSES[i % BATCH_STATUSES.length];
    const obj = batchObject(t, {
      endpoint: "/v1/chat/completions",
      input_file_id: newId("file-", 22),
      completion_window: "24h",
      total: 10,
      status,
      created_at: created,
    });
    obj[`${status}_at`] = created;
    if (status === "completed") obj.request_counts = { total: 10, completed: 10, failed: 0 };
    t.batches.add({ id: obj.id as string, obj });
  }
  out.batches = batches;
  const jobs = n("fine_tuning_jobs");
  for (let i = 0; i < jobs; i++) {
    const created = now - jobs + i;
    const status = JOB_STATUSES[i % JOB_STATUSES.length];
    const obj = jobObject(t, { model: "gpt-4o-mini-2024-07-18", training_file: newId("file-", 22), status, created_at: created });
    obj.finished_at = created;
    if (status === "succeeded") {
      obj.fine_tuned_model = `ft:gpt-4o-mini-2024-07-18:sim::${String(obj.id).slice(-8)}`;
      obj.trained_tokens = 1000 + i;
    } else if (status === "failed") obj.error = { code: "invalid_training_file", message: "Seeded failure.", param: "training_file" };
    t.jobs.add({ id: obj.id as string, obj });
  }
  out.fine_tuning_jobs = jobs;
  const vs = n("vector_stores");
  for (let i = 0; i < vs; i++) t.vectorStores.add(vectorStoreRec(t, { name: `seed-store-${i}`, file_ids: [], created_at: now - vs + i }));
  out.vector_stores = vs;
  if (t.kind === "admin") ensureDefaults(t);
  const projects = n("projects");
  for (let i = 0; i < projects; i++) t.projects.add(projectObject(`Seed project ${i}`, now - projects + i));
  out.projects = projects;
  const users = n("users");
  for (let i = 0; i < users; i++) t.users.add(userObject(t.users.size + 1, now - users + i));
  out.users = users;
  if (s.cost_days !== undefined) t.costDays = n("cost_days");
  out.cost_days = t.costDays;
  return out;
}

export type MutableModel = "files" | "batches" | "fine_tuning_jobs" | "vector_stores" | "projects" | "users";
export const MUTABLE_MODELS: MutableModel[] = ["files", "batches", "fine_tuning_jobs", "vector_stores", "projects", "users"];

interface Store {
  ids(): string[];
  delete(id: string): boolean;
  touch(id: string, n: number): boolean;
}

function storeOf(t: Tenant, m: MutableModel): Store {
  switch (m) {
    case "files":
      return {
        ids: () => t.files.ids(),
        delete: (id) => t.files.delete(id),
        touch: (id, n) => {
          const f = t.files.get(id);
          if (f) f.filename = `updated-${n}-${f.filename.replace(/^updated-\d+-/, "")}`;
          return !!f;
        },
      };
    case "batches":
      return {
        ids: () => t.batches.ids(),
        delete: (id) => t.batches.delete(id),
        touch: (id, n) => {
          const b = t.batches.get(id);
          if (b) b.obj.metadata = { sim_update: String(n) };
          return !!b;
        },
      };
    case "fine_tuning_jobs":
      return {
        ids: () => t.jobs.ids(),
        delete: (id) => t.jobs.delete(id),
        touch: (id, n) => {
          const j = t.jobs.get(id);
          if (j) j.obj.metadata = { sim_update: String(n) };
          return !!j;
        },
      };
    case "vector_stores":
      return {
        ids: () => t.vectorStores.ids(),
        delete: (id) => t.vectorStores.delete(id),
        touch: (id, n) => {
          const v = t.vectorStores.get(id);
          if (v) v.obj.metadata = { sim_update: String(n) };
          return !!v;
        },
      };
    case "projects":
      return {
        ids: () => t.projects.ids(),
        delete: (id) => t.projects.delete(id),
        touch: (id, n) => {
          const p = t.projects.get(id);
          if (p) p.name = `Updated project ${n}`;
          return !!p;
        },
      };
    case "users":
      return {
        ids: () => t.users.ids(),
        delete: (id) => t.users.delete(id),
        touch: (id, n) => {
          const u = t.users.get(id);
          if (u) u.name = `Updated user ${n}`;
          return !!u;
        },
      };
  }
}

let mutation = 0;

/** Updates then removes objects, given by ids or as a count of the oldest ones. */
export function mutate(
  t: Tenant,
  m: MutableModel,
  update: string[] | number | undefined,
  remove: string[] | number | undefined,
): { updated: string[]; removed: string[] } {
  const st = storeOf(t, m);
  const n = ++mutation;
  const updated: string[] = [];
  const removed: string[] = [];
  const pick = (sel: string[] | number | undefined, skip: Set<string>): string[] => {
    if (sel === undefined) return [];
    if (Array.isArray(sel)) return sel;
    const out: string[] = [];
    for (const id of st.ids()) {
      if (out.length >= sel) break;
      if (!skip.has(id)) out.push(id);
    }
    return out;
  };
  for (const id of pick(update, new Set())) if (st.touch(id, n)) updated.push(id);
  for (const id of pick(remove, new Set(updated))) if (st.delete(id)) removed.push(id);
  return { updated, removed };
}
