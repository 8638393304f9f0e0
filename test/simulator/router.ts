import type { Route } from "./http.ts";

interface ParamRoute {
  route: Route;
  segs: string[];
}

/** Exact paths in a map (the hot path); parameterised ones matched by segments. */
export class Router {
  private exact = new Map<string, Route>();
  private dynamic: ParamRoute[] = [];

  add(routes: Route[]): this {
    for (const r of routes) {
      if (r.path.includes("/:")) this.dynamic.push({ route: r, segs: r.path.split("/") });
      else this.exact.set(`${r.method} ${r.path}`, r);
    }
    return this;
  }

  match(method: string, path: string): { route: Route; params: Record<string, string> } | null {
    const r = this.exact.get(`${method} ${path}`);
    if (r) return { route: r, params: {} };
    const segs = path.split("/");
    outer: for (const d of this.dynamic) {
      if (d.route.method !== method || d.segs.length !== segs.length) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < segs.length; i++) {
        const p = d.segs[i];
        if (p.startsWith(":")) {
          if (!segs[i]) continue outer;
          params[p.slice(1)] = decodeURIComponent(segs[i]);
        } else if (p !== segs[i]) continue outer;
      }
      return { route: d.route, params };
    }
    return null;
  }
}
