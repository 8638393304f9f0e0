import { createServer } from "node:http";

export async function startSimulator(opts: { port: number; host: string }) {
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ object: "list", data: [] }));
  });
  await new Promise<void>((r) => server.listen(opts.port, opts.host, r));
  return { url: `http://${opts.host}:${opts.port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
