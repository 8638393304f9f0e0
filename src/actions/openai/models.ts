import { z } from "zod";
import { defineAction } from "../types";

export const listModels = defineAction({
  name: "list-models",
  description: "The models the key can use (GET /v1/models).",
  input: z.object({}),
  output: z
    .object({
      object: z.literal("list"),
      data: z.array(z.object({ id: z.string(), object: z.literal("model"), created: z.number(), owned_by: z.string() }).loose()),
    })
    .loose(),
  run: (_input, call) => call({ method: "GET", path: "/v1/models" }).then((r) => r.json()),
});
