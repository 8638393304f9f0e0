import { ApiError } from "../errors";
import { jsonDepth, MAX_ACTION_INPUT_DEPTH } from "../json-limits";
import type { ProviderDefinition } from "../providers/types";
import type { ActionCall, ActionDefinition } from "./types";
import { actionsOf } from "./catalog";
import { firstIssue, zodIssues, type Issue } from "../lib/zod-issues";

const summary = (issues: Issue[]) => firstIssue(issues, "input") ?? "Invalid";

export function findAction(provider: ProviderDefinition, name: string): ActionDefinition | undefined {
  return actionsOf(provider).find((a) => a.name === name);
}

/** The input as the action will see it, or 422 with the schema's issues (nothing is sent). */
export function parseInput(action: ActionDefinition, input: unknown): unknown {
  // Checked first: a schema (or the RPC that stores an async run) walking 10,000 levels would overflow.
  if (jsonDepth(input, MAX_ACTION_INPUT_DEPTH) > MAX_ACTION_INPUT_DEPTH) {
    const issues = [{ path: "input", message: `nests deeper than ${MAX_ACTION_INPUT_DEPTH} levels (the limit)` }];
    throw new ApiError(422, "invalid_action_input", `Invalid input for '${action.name}': ${summary(issues)}`, issues);
  }
  const parsed = action.input.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error);
  throw new ApiError(422, "invalid_action_input", `Invalid input for '${action.name}': ${summary(issues)}`, issues);
}

/** Runs the action and checks its answer against the output schema (502 if the provider's answer does not fit). */
export async function performAction(action: ActionDefinition, input: unknown, call: ActionCall): Promise<unknown> {
  const raw = await action.run(input, call);
  const parsed = action.output.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error);
  throw new ApiError(502, "invalid_action_output", `The provider's answer does not match '${action.name}' output: ${summary(issues)}`, issues);
}
