import type { Pagination, SyncDefinition } from "./types";

/** `?after=<last id>&limit=N` while `has_more` (see each endpoint's limit range in openapi.yaml). */
const cursor = (pageSize: number): Pagination => ({
  type: "cursor",
  limitParam: "limit",
  pageSize,
  cursorParam: "after",
  hasMoreField: "has_more",
});

const DAY_S = 86_400;
/** Daily cost buckets are kept for this many days back. */
const COST_WINDOW_DAYS = 30;

const common = { dataField: "data", idField: "id", frequency: "every hour", trackDeletes: true } as const;

/**
 * OpenAI's syncs. A project/user key (`openai`) can list its own objects; an
 * admin key (`openai-admin`) only the organization's admin endpoints.
 */
export const openaiSyncs: SyncDefinition[] = [
  {
    ...common,
    name: "models",
    model: "models",
    description: "Models the key can use (GET /v1/models, one page)",
    endpoint: "/v1/models",
    pagination: { type: "none" },
    keyKind: "openai",
  },
  {
    ...common,
    name: "files",
    model: "files",
    description: "Uploaded files (GET /v1/files, limit up to 10,000)",
    endpoint: "/v1/files",
    // Oldest first: a file uploaded during the walk lands at the end instead of shifting pages.
    params: () => ({ order: "asc" }),
    pagination: cursor(10_000),
    keyKind: "openai",
  },
  {
    ...common,
    name: "batches",
    model: "batches",
    description: "Batches (GET /v1/batches)",
    endpoint: "/v1/batches",
    pagination: cursor(100),
    keyKind: "openai",
  },
  {
    ...common,
    name: "fine-tuning-jobs",
    model: "fine-tuning-jobs",
    description: "Fine-tuning jobs (GET /v1/fine_tuning/jobs)",
    endpoint: "/v1/fine_tuning/jobs",
    pagination: cursor(100),
    keyKind: "openai",
  },
  {
    ...common,
    name: "vector-stores",
    model: "vector-stores",
    description: "Vector stores (GET /v1/vector_stores)",
    endpoint: "/v1/vector_stores",
    params: () => ({ order: "asc" }),
    pagination: cursor(100),
    keyKind: "openai",
  },
  {
    ...common,
    name: "projects",
    model: "projects",
    description: "Organization projects, archived included (GET /v1/organization/projects)",
    endpoint: "/v1/organization/projects",
    params: () => ({ include_archived: "true" }),
    pagination: cursor(100),
    keyKind: "openai-admin",
  },
  {
    ...common,
    name: "users",
    model: "users",
    description: "Organization users (GET /v1/organization/users)",
    endpoint: "/v1/organization/users",
    pagination: cursor(100),
    keyKind: "openai-admin",
  },
  {
    ...common,
    name: "costs",
    model: "costs",
    description: `Daily cost buckets of the last ${COST_WINDOW_DAYS} days (GET /v1/organization/costs); id = the bucket's start_time`,
    endpoint: "/v1/organization/costs",
    params: (now) => {
      const today = Math.floor(now / 1000 / DAY_S) * DAY_S;
      return { start_time: String(today - COST_WINDOW_DAYS * DAY_S), bucket_width: "1d" };
    },
    pagination: { type: "page", limitParam: "limit", pageSize: 10, pageParam: "page", nextField: "next_page" },
    idField: "start_time",
    // A sliding window: buckets leaving it were not deleted upstream.
    trackDeletes: false,
    keyKind: "openai-admin",
  },
];
