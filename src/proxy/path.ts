import { ApiError } from "../errors";

const invalidPath = (why: string) => new ApiError(400, "invalid_path", `Proxy path refused: ${why}`);

// Encoded dot, slash, backslash, NUL, or an encoded percent sign (double encoding).
const ENCODED_ESCAPE = /%(2e|2f|5c|00|25)/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** Splits a request URL into its raw (undecoded) path and query, `?` included. */
export function rawPathAndQuery(url: string): { path: string; query: string } {
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  if (pathStart < 0) return { path: "/", query: "" };
  const q = url.indexOf("?", pathStart);
  return q < 0 ? { path: url.slice(pathStart), query: "" } : { path: url.slice(pathStart, q), query: url.slice(q) };
}

/**
 * The path under the provider's base URL, or a 400: it must stay a plain
 * relative path, so absolute URLs, `//host`, dot segments, backslashes and
 * their percent-encoded forms are refused before anything is sent.
 */
export function confinePath(path: string): string {
  if (confined.has(path)) return path;
  checkConfined(path);
  remember(confined, path);
  return path;
}

/**
 * Paths already found to pass (`confinePath`) and, per base URL, to stay
 * under it (`upstreamUrl`): the checks are pure functions of the path, and a
 * Worker sees the same few endpoints over and over. Bounded: short paths
 * only (≤ 256 KiB in all), emptied when full.
 */
const MAX_REMEMBERED = 512;
const MAX_REMEMBERED_LENGTH = 512;
const confined = new Set<string>();
const remember = (set: Set<string>, path: string) => {
  if (path.length > MAX_REMEMBERED_LENGTH) return;
  if (set.size >= MAX_REMEMBERED) set.clear();
  set.add(path);
};

function checkConfined(path: string): void {
  if (!path.startsWith("/")) throw invalidPath("must start with /");
  if (path.startsWith("//")) throw invalidPath("network-path reference (//host)");
  if (path.includes("\\")) throw invalidPath("backslash");
  if (ENCODED_ESCAPE.test(path)) throw invalidPath("encoded dot, slash, backslash or percent sign");
  const segments = path.slice(1).split("/");
  if (SCHEME.test(segments[0] ?? "")) throw invalidPath("absolute URL");
  for (const segment of segments) {
    if (segment === "." || segment === "..") throw invalidPath("dot segment");
  }
  // Control characters and spaces never belong in a request target.
  if (/[\u0000-\u0020\u007f]/.test(path)) throw invalidPath("control character");
}

/** The base URL's origin and path, parsed once per base (a provider's base rarely changes), and the paths found to stay under it. */
let lastBase: { base: string; origin: string; basePath: string; under: Set<string> } | undefined;
function parsedBase(base: string): { origin: string; basePath: string; under: Set<string> } {
  if (lastBase?.base !== base) {
    const url = new URL(base);
    lastBase = { base, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ""), under: new Set() };
  }
  return lastBase;
}

/**
 * `<base><path><query>`, checked once more against the base after URL
 * parsing. The query (it starts with `?`) cannot move the origin or the path,
 * so a path found to stay under a base is not parsed again.
 */
export function upstreamUrl(base: string, path: string, query: string): string {
  const target = `${base}${path}${query}`;
  const { origin, basePath, under } = parsedBase(base);
  if (under.has(path)) return target;
  const parsed = new URL(target);
  if (parsed.origin !== origin || !parsed.pathname.startsWith(`${basePath}/`)) throw invalidPath("resolves outside the provider base URL");
  remember(under, path);
  return target;
}
