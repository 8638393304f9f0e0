/**
 * Logging of errors nobody handled: message and stack, scrubbed of secrets, and
 * where it happened (inside a Durable Object, which object).
 */

/** The environment's own secrets, scrubbed by value wherever they appear. */
export type SecretSource = { TERAPI_SECRET_KEY?: string; TERAPI_ENCRYPTION_KEY?: string };

const REDACTED = "[redacted]";
const MAX_STACK_LINES = 12;
const MAX_TEXT = 2000;

/** Secrets by shape: bearer tokens, provider keys, webhook secrets, and the value of any key- or secret-named field. */
const PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[^\s"',;]+/gi, `$1 ${REDACTED}`],
  [/\bsk-[A-Za-z0-9_-]{4,}/g, `sk-${REDACTED}`],
  [/\bwhsec_[A-Za-z0-9+/=]+/g, `whsec_${REDACTED}`],
  [
    /(["']?\b(?:api[_-]?key|apikey|secret|token|password|authorization|webhook_secret|credentials)\b["']?\s*[:=]\s*["']?)(?!(?:Bearer|Basic)\s|\[redacted\])[^"'\s,;}&]+/gi,
    `$1${REDACTED}`,
  ],
];

/** Every configured secret key and encryption key (and its material alone) as literal values. */
function secretValues(env: SecretSource | undefined): string[] {
  if (!env) return [];
  const split = (raw: string | undefined) =>
    (raw ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length >= 4);
  const keys = split(env.TERAPI_ENCRYPTION_KEY).flatMap((entry) => [entry, entry.slice(entry.indexOf(":") + 1)]);
  return [...split(env.TERAPI_SECRET_KEY), ...keys].sort((a, b) => b.length - a.length);
}

/** `text` with every secret it may carry replaced by `[redacted]`. */
export function scrubSecrets(text: string, env?: SecretSource): string {
  let out = text;
  for (const value of secretValues(env)) out = out.split(value).join(REDACTED);
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

type ErrorLogLine = { name: string; message: string; stack?: string; object?: string; [field: string]: unknown };

/** The logged form of an error: name, message and the first stack lines, scrubbed. */
function describeError(err: unknown, env?: SecretSource): ErrorLogLine {
  if (!(err instanceof Error)) return { name: typeof err, message: scrubSecrets(String(err), env).slice(0, MAX_TEXT) };
  const stack = err.stack?.split("\n").slice(0, MAX_STACK_LINES).join("\n");
  return {
    name: err.name,
    message: scrubSecrets(err.message, env).slice(0, MAX_TEXT),
    ...(stack ? { stack: scrubSecrets(stack, env).slice(0, MAX_TEXT) } : {}),
  };
}

/** A Durable Object's name as it was addressed (`idFromName`), its id otherwise: `ConnectionObject openai/tenant-42`. */
export function durableObjectName(className: string, ctx: DurableObjectState): string {
  const name = ctx.id.name;
  return `${className} ${name === undefined ? ctx.id.toString() : name.replaceAll("\u0000", "/")}`;
}

/**
 * `console.error(what, {...fields, object?, name, message, stack})`, scrubbed:
 * `object` names the Durable Object it happened in, `fields` say what was
 * being done (ids, counts: never bodies or secrets).
 */
export function logUnhandled(what: string, err: unknown, where: { object?: string; secrets?: SecretSource; fields?: Record<string, unknown> } = {}): void {
  const line: ErrorLogLine = { ...where.fields, ...(where.object === undefined ? {} : { object: where.object }), ...describeError(err, where.secrets) };
  console.error(what, line);
}
