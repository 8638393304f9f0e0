// The user's webhook endpoint for `npm run bench -- --scale`, in its own Node
// process (`node bench/lib/event-receiver.ts <port>`): the bench's own process
// sends hundreds of inbound webhooks a second, and receiving the forwards there
// too measured the bench (one event loop holding ~9,000 requests), not terapi.
//
//   POST <anything>       a forward event: its arrival time and whether it reached the right connection
//   GET /__arrivals       every arrival so far, as JSON (ArrivalReport)
import http from "node:http";
import { fileURLToPath } from "node:url";
import { jsonCall } from "../../scripts/lib/json-call.ts";
import { startChild, waitFor } from "../../scripts/lib/procs.ts";

type Arrival = { seq: number; at: number; sentAt: number; ok: boolean };
/** `arrivals[seq]`: every time that event arrived (at least once: more than one is a duplicate). */
export type ArrivalReport = { arrivals: Record<string, Arrival[]>; other: number };

function serve(port: number): http.Server {
  const arrivals: Record<string, Arrival[]> = {};
  let other = 0;
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/__arrivals") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ arrivals, other } satisfies ArrivalReport));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        // The forwarded provider body: under `payload` today (src/webhooks/events.ts); tolerate other envelopes.
        const inner = (body.payload ?? body.data ?? body) as { data?: { conn?: string; seq?: number; sent_at?: number } };
        const d = inner?.data;
        if (d && typeof d.seq === "number") {
          const conn = (body.connection_id ?? body.connectionId) as string | undefined;
          (arrivals[d.seq] ??= []).push({ seq: d.seq, at, sentAt: d.sent_at ?? 0, ok: conn === d.conn });
        } else other++;
      } catch {
        other++;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, "127.0.0.1", () => console.log(`receiver listening on ${port}`));
  return server;
}

/** Starts the receiver in a child process on `port`; `report()` reads what arrived. */
export async function startReceiverProcess(root: string, port: number) {
  const child = startChild("receiver", process.execPath, [fileURLToPath(import.meta.url), String(port)], { cwd: root });
  const base = `http://127.0.0.1:${port}`;
  await waitFor("the event receiver", async () => (await fetch(`${base}/__arrivals`)).ok, 15_000, child);
  return {
    url: `${base}/hooks`,
    report: async (): Promise<ArrivalReport> => (await jsonCall<ArrivalReport>("GET", `${base}/__arrivals`, {})).json,
    stop: () => child.stop(),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0) {
    console.error("usage: node bench/lib/event-receiver.ts <port>");
    process.exit(2);
  }
  const server = serve(port);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => server.close(() => process.exit(0)));
}
