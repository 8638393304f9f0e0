// Runs the OpenAI simulator in its own process through `startSimulator`
// (used when test/simulator/cli.ts is not there): `node bench/sim-child.ts <port>`.
import { startSimulator } from "../test/simulator/server.ts";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node bench/sim-child.ts <port>");
  process.exit(2);
}
const sim = await startSimulator({ port, host: "127.0.0.1" });
console.log(`simulator listening on ${sim.url}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void sim.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
