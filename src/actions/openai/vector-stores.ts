import { z } from "zod";
import { defineAction } from "../types";
import { Metadata, path, resourceId } from "./common";

export const createVectorStore = defineAction({
  name: "create-vector-store",
  description: "Create a vector store, optionally from uploaded files (POST /v1/vector_stores).",
  input: z
    .object({
      name: z.string().max(256).optional(),
      file_ids: z.array(resourceId("file-abc123")).max(500).optional(),
      metadata: Metadata.optional(),
      expires_after: z.object({ anchor: z.literal("last_active_at"), days: z.int().min(1).max(365) }).optional(),
    })
    .loose(),
  output: z
    .object({
      id: z.string(),
      object: z.literal("vector_store"),
      created_at: z.number(),
      name: z.string().nullable(),
      status: z.string(),
      usage_bytes: z.number(),
      file_counts: z.object({ total: z.number() }).loose(),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: "/v1/vector_stores", json: input }).then((r) => r.json()),
});

export const searchVectorStore = defineAction({
  name: "search-vector-store",
  description: "Search a vector store for relevant chunks (POST /v1/vector_stores/{vector_store_id}/search).",
  input: z
    .object({
      vector_store_id: resourceId("vs_abc123"),
      query: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
      max_num_results: z.int().min(1).max(50).optional(),
      rewrite_query: z.boolean().optional(),
      filters: z.object({}).loose().optional(),
      ranking_options: z.object({}).loose().optional(),
    })
    .loose(),
  output: z
    .object({
      object: z.literal("vector_store.search_results.page"),
      search_query: z.union([z.string(), z.array(z.string())]),
      data: z.array(
        z
          .object({
            file_id: z.string(),
            filename: z.string(),
            score: z.number(),
            content: z.array(z.object({ type: z.string(), text: z.string() }).loose()),
          })
          .loose(),
      ),
      has_more: z.boolean(),
      next_page: z.string().nullable(),
    })
    .loose(),
  async run({ vector_store_id, ...body }, call) {
    return (await call({ method: "POST", path: path("v1", "vector_stores", vector_store_id, "search"), json: body })).json();
  },
});
