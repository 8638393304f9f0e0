import { z } from "zod";
import { defineAction } from "../types";
import { path, resourceId } from "./common";

export const cancelFineTuningJob = defineAction({
  name: "cancel-fine-tuning-job",
  description: "Cancel a fine-tuning job (POST /v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel).",
  input: z.object({ fine_tuning_job_id: resourceId("ftjob-abc123") }),
  output: z
    .object({
      id: z.string(),
      object: z.literal("fine_tuning.job"),
      model: z.string(),
      status: z.string(),
      created_at: z.number(),
      fine_tuned_model: z.string().nullable(),
      training_file: z.string(),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: path("v1", "fine_tuning", "jobs", input.fine_tuning_job_id, "cancel") }).then((r) => r.json()),
});
