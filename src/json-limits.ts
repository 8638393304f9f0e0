/** How deep user JSON may nest: deeper would overflow the stack of whatever copies it (RPC, SQLite, JSON). */
export const MAX_JSON_DEPTH = 32;
/** An action's input is a provider payload (a JSON Schema in a response format nests a lot): more room, still bounded. */
export const MAX_ACTION_INPUT_DEPTH = 64;

/** The nesting depth of a JSON value, counted without recursion (so it never overflows itself); stops past `max`. */
export function jsonDepth(value: unknown, max = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > max) return deepest;
    for (const child of Object.values(v)) stack.push([child, level]);
  }
  return deepest;
}
