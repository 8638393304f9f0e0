import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/**
 * A scriptable webhook receiver for delivery tests (runs in Node, reached by
 * the Worker over 127.0.0.1). Every path other than the control API records
 * the request and answers with the next scripted response for its receiver id
 * — the first path segment, so `/<id>` or `/<id>/anything` — or 200 when the
 * script is used up.
 *
 *   POST /__receiver/script   {id, responses: [{status, headers?, body?, delay_ms?}]}
 *   GET  /__receiver/received?id=<id>  → {requests: [{method, path, headers, body, status, at}]}
 */
export type ScriptedResponse = { status: number; headers?: Record<string, string>; body?: string; delay_ms?: number };
export type ReceivedRequest = { method: string; path: string; headers: Record<string, string>; body: string; status: number; at: number };

export async function startReceiver(opts: { port: number; host: string }) {
  const scripts = new Map<string, ScriptedResponse[]>();
  const received = new Map<string, ReceivedRequest[]>();

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const body = await readBody(req);
    if (url.pathname === "/__receiver/script" && req.method === "POST") {
      const { id, responses } = JSON.parse(body) as { id: string; responses: ScriptedResponse[] };
      scripts.set(id, [...responses]);
      received.set(id, []);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/__receiver/received") {
      return json(res, 200, { requests: received.get(url.searchParams.get("id") ?? "") ?? [] });
    }
    const id = url.pathname.split("/")[1] ?? "";
    const next = scripts.get(id)?.shift() ?? { status: 200, body: '{"ok":true}' };
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    const list = received.get(id) ?? [];
    list.push({ method: req.method ?? "", path: url.pathname, headers, body, status: next.status, at: Date.now() });
    received.set(id, list);
    if (next.delay_ms) await new Promise((r) => setTimeout(r, next.delay_ms));
    res.writeHead(next.status, { "content-type": "text/plain", ...next.headers });
    res.end(next.body ?? "");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
