import type { ProviderDefinition } from "../providers/types";
import type { ConnectionSecret } from "../store/connection-secret";

/** RFC 9110 hop-by-hop headers: meaningful for one connection only. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/** terapi's own request headers and what must never reach the provider from the caller. */
const TERAPI_OWN = [
  "authorization",
  "connection-id",
  "provider-config-key",
  "retries",
  "retry-on",
  "async",
  "host",
  "cookie",
  "accept-encoding",
  "content-length",
  "cf-connecting-ip",
  "x-forwarded-for",
  "x-real-ip",
  // Nango's SDK control headers (sent on every proxy call, often empty): instructions to terapi, never to the provider.
  "base-url-override",
  "decompress",
  "forward-headers-on-redirect",
];

/** `Terapi-Proxy-<Name>` and Nango's `Nango-Proxy-<Name>` are sent as `<Name>`. */
const PASS_PREFIXES = ["terapi-proxy-", "nango-proxy-"];
/** Any other `Nango-*` header (`Nango-Activity-Log-Id`, `Nango-Is-Sync`, …) is the SDK's own. */
const NANGO_OWN_PREFIX = "nango-";

const passName = (name: string): string | null => {
  for (const prefix of PASS_PREFIXES) if (name.startsWith(prefix)) return name.slice(prefix.length);
  return null;
};

// Filled once per decrypted secret (the connection cache hands out the same object for its TTL).
const filled = new WeakMap<ConnectionSecret, { provider: ProviderDefinition; headers: Readonly<Record<string, string>> }>();

/** The provider's auth headers for one connection, templates filled; empty values are dropped. */
export function authHeadersFor(provider: ProviderDefinition, secret: ConnectionSecret): Readonly<Record<string, string>> {
  const hit = filled.get(secret);
  if (hit && hit.provider === provider) return hit.headers;
  const headers = fillAuthHeaders(provider, secret);
  filled.set(secret, { provider, headers });
  return headers;
}

function fillAuthHeaders(provider: ProviderDefinition, secret: ConnectionSecret): Record<string, string> {
  const values: Record<string, string | undefined> = {
    apiKey: secret.credentials.apiKey,
    organization_id: secret.config.organization_id,
    project_id: secret.config.project_id,
  };
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(provider.authHeaders)) {
    let empty = false;
    const value = template.replace(/\$\{(\w+)\}/g, (_, key: string) => {
      const v = values[key];
      if (!v) empty = true;
      return v ?? "";
    });
    if (!empty && value.trim()) out[name.toLowerCase()] = value;
  }
  return out;
}

function dropConnectionListed(headers: Headers, source: Headers) {
  const listed = source.get("connection");
  if (!listed) return;
  for (const name of listed.split(",")) {
    const n = name.trim().toLowerCase();
    if (n) headers.delete(n);
  }
}

/** Never copied from the caller (checked in one pass; the connection-listed ones are added per request). */
const DROPPED = new Set([...HOP_BY_HOP, ...TERAPI_OWN]);
const HOP_BY_HOP_SET = new Set(HOP_BY_HOP);

/** Lower-cased auth header names per provider definition (they never change). */
const protectedNamesOf = new WeakMap<ProviderDefinition, Set<string>>();
function protectedNames(provider: ProviderDefinition): Set<string> {
  let names = protectedNamesOf.get(provider);
  if (!names) {
    names = new Set(Object.keys(provider.authHeaders).map((n) => n.toLowerCase()));
    protectedNamesOf.set(provider, names);
  }
  return names;
}

/**
 * Headers the caller's `Connection` header names are hop-by-hop for that
 * connection (RFC 9110 §7.6.1). workerd does hand the Worker the `Connection`
 * header of an HTTP/1.1 request, so this runs (test/node/raw-requests.test.ts
 * sends one over a raw socket); fetch() clients simply cannot set it.
 */
function connectionListed(source: Headers): Set<string> | null {
  const listed = source.get("connection");
  if (!listed) return null;
  const names = new Set<string>();
  for (const name of listed.split(",")) {
    const n = name.trim().toLowerCase();
    if (n) names.add(n);
  }
  return names;
}

/**
 * Fresh upstream headers: the caller's minus terapi's own, hop-by-hop, cookies
 * and host; `Terapi-Proxy-<Name>` (or Nango's `Nango-Proxy-<Name>`) becomes `<Name>`; the provider's auth headers
 * are set last, so a caller can never replace them.
 * One pass over the caller's headers (`forEach`: no entry arrays, as the
 * iterator makes): only what is kept is copied.
 */
export function upstreamRequestHeaders(incoming: Headers, auth: Readonly<Record<string, string>>, provider: ProviderDefinition): Headers {
  const guarded = protectedNames(provider);
  const listed = connectionListed(incoming);
  const out = new Headers();
  let renamed = null as [string, string][] | null;
  incoming.forEach((value, name) => {
    const passed = passName(name);
    if (passed !== null) (renamed ??= []).push([passed, value]);
    else if (!DROPPED.has(name) && !name.startsWith(NANGO_OWN_PREFIX) && !guarded.has(name) && !listed?.has(name)) out.append(name, value);
  });
  for (const [name, value] of renamed ?? []) {
    if (name && !guarded.has(name) && !HOP_BY_HOP_SET.has(name)) out.set(name, value);
  }
  for (const [name, value] of Object.entries(auth)) out.set(name, value);
  return out;
}

/** The provider's response headers for the caller: everything but hop-by-hop and framing. */
export function callerResponseHeaders(upstream: Headers): Headers {
  const out = new Headers(upstream);
  dropConnectionListed(out, upstream);
  for (const name of HOP_BY_HOP) out.delete(name);
  // The runtime decoded the body; the runtime re-encodes it for the caller if it can.
  if (out.has("content-encoding")) {
    out.delete("content-encoding");
    out.delete("content-length");
  }
  return out;
}

/** What the caller's copy of an answer never carries (`callerResponseHeaders`), checked name by name. */
const RESPONSE_DROPPED = [...HOP_BY_HOP, "content-encoding"];

/**
 * The caller's copy of a provider's answer, with `body` (its own unless
 * given): the same headers as `callerResponseHeaders` gives, made the cheap
 * way. workerd copies the answer's status and headers natively
 * (`new Response(body, res)`), and only the names actually present are then
 * deleted from the copy: a Headers copy made in JS, then a Response made from
 * it, cost about twice as much (bench/micro/workerd-steps.ts).
 */
export function callerResponse(res: Response, body: BodyInit | null = res.body): Response {
  const upstream = res.headers;
  let present: string[] | null = null;
  for (const name of RESPONSE_DROPPED) if (upstream.has(name)) (present ??= []).push(name);
  const out = new Response(body, res);
  if (present === null) return out;
  const headers = out.headers;
  for (const name of present) {
    if (name === "connection") dropConnectionListed(headers, upstream);
    // The runtime decoded the body; the runtime re-encodes it for the caller if it can.
    else if (name === "content-encoding") headers.delete("content-length");
    headers.delete(name);
  }
  return out;
}
