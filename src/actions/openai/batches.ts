import { z } from "zod";
import { defineAction } from "../types";
import { Metadata, path, resourceId } from "./common";

const Batch = z
  .object({
    id: z.string(),
    object: z.literal("batch"),
    endpoint: z.string(),
    input_file_id: z.string(),
    completion_window: z.string(),
    status: z.string(),
    created_at: z.number(),
    output_file_id: z.string().nullish(),
    error_file_id: z.string().nullish(),
    request_counts: z.object({ total: z.number(), completed: z.number(), failed: z.number() }).loose().optional(),
    metadata: z.record(z.string(), z.string()).nullish(),
  })
  .loose();

const BatchId = z.object({ batch_id: resourceId("batch_abc123") });

export const createBatch = defineAction({
  name: "create-batch",
  description: "Start a batch from an uploaded JSONL file of purpose `batch` (POST /v1/batches).",
  input: z.object({
    input_file_id: resourceId("file-abc123"),
    endpoint: z.enum(["/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations"]),
    completion_window: z.literal("24h"),
    metadata: Metadata.optional(),
  }),
  output: Batch,
  run: (input, call) => call({ method: "POST", path: "/v1/batches", json: input }).then((r) => r.json()),
});

export const getBatch = defineAction({
  name: "get-batch",
  description: "A batch and its progress (GET /v1/batches/{batch_id}).",
  input: BatchId,
  output: Batch,
  run: (input, call) => call({ method: "GET", path: path("v1", "batches", input.batch_id) }).then((r) => r.json()),
});

export const cancelBatch = defineAction({
  name: "cancel-batch",
  description: "Cancel a batch in progress (POST /v1/batches/{batch_id}/cancel).",
  input: BatchId,
  output: Batch,
  run: (input, call) => call({ method: "POST", path: path("v1", "batches", input.batch_id, "cancel") }).then((r) => r.json()),
});
