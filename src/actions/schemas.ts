import { z } from "zod";
import type { ProviderDefinition } from "../providers/types";
import type { ActionDefinition } from "./types";
import { actionsOf } from "./catalog";

type JsonSchema = Record<string, unknown>;

type ActionDescription = {
  name: string;
  provider: string;
  description: string;
  input_schema: JsonSchema;
  output_schema: JsonSchema;
};

const cache = new WeakMap<ActionDefinition, { input: JsonSchema; output: JsonSchema }>();

/** JSON Schema (2020-12, as OpenAPI 3.1 uses) without `$schema`, so it can sit inside a document. */
function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}

/** An action's schemas as JSON Schema: what the caller sends (`input`), what it gets back (`output`). Computed once. */
export function actionJsonSchemas(action: ActionDefinition): { input: JsonSchema; output: JsonSchema } {
  let hit = cache.get(action);
  if (!hit) {
    hit = { input: toJsonSchema(action.input, "input"), output: toJsonSchema(action.output, "output") };
    cache.set(action, hit);
  }
  return hit;
}

export function describeActions(provider: ProviderDefinition): ActionDescription[] {
  return actionsOf(provider).map((a) => {
    const { input, output } = actionJsonSchemas(a);
    return { name: a.name, provider: provider.name, description: a.description, input_schema: input, output_schema: output };
  });
}

/** OpenAPI component names: `<provider>.<action>.input|output`. */
export const componentName = (provider: string, action: string, io: "input" | "output") => `${provider}.${action}.${io}`;
