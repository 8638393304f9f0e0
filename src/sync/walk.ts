import type { SyncDefinition } from "../providers/types";
import { confinePath, upstreamUrl } from "../proxy/path";
import type { Checkpoint } from "./state";

/** The first page's query, fixed for the whole run. */
export function firstQuery(def: SyncDefinition, now: number): string {
  const q = new URLSearchParams(def.params?.(now) ?? {});
  const p = def.pagination;
  if (p.type === "cursor" || p.type === "page") q.set(p.limitParam, String(p.pageSize));
  return q.toString();
}

/** The URL of the checkpoint's page; a `next` URL from the provider must stay under its base URL. */
export function pageUrl(def: SyncDefinition, base: string, cp: Checkpoint): string {
  const p = def.pagination;
  const q = new URLSearchParams(cp.query);
  if (cp.next !== null) {
    if (p.type === "cursor") q.set(p.cursorParam, cp.next);
    else if (p.type === "page") q.set(p.pageParam, cp.next);
    else if (p.type === "next") {
      const target = new URL(cp.next, `${base}/`);
      if (target.origin !== new URL(base).origin) throw new Error("next page URL leaves the provider");
      return upstreamUrl(base, confinePath(target.pathname.slice(new URL(base).pathname.replace(/\/+$/, "").length)), target.search);
    }
  }
  const query = q.toString();
  return upstreamUrl(base, def.endpoint, query ? `?${query}` : "");
}

const field = (body: unknown, name: string): unknown => (typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined);

/** The list's items, or null when the body is not the expected shape. */
export function pageItems(def: SyncDefinition, body: unknown): unknown[] | null {
  const data = field(body, def.dataField);
  return Array.isArray(data) ? data : null;
}

/** An item's id as stored (numbers as strings); null when it has none. */
export function itemId(def: SyncDefinition, item: unknown): string | null {
  const v = field(item, def.idField);
  return typeof v === "string" && v ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : null;
}

/** Where the next page is, or null when this was the last. */
export function nextCursor(def: SyncDefinition, body: unknown, items: unknown[]): string | null {
  const p = def.pagination;
  switch (p.type) {
    case "none":
      return null;
    case "cursor": {
      if (field(body, p.hasMoreField) !== true || items.length === 0) return null;
      return itemId(def, items[items.length - 1]);
    }
    case "page":
    case "next": {
      const next = field(body, p.nextField);
      return typeof next === "string" && next ? next : null;
    }
  }
}

/** JSON with object keys sorted: equal content, equal text, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
