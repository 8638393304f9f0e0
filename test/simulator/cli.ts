import { startSimulator } from "./server.ts";
import { BUILTIN_KEYS } from "./state.ts";

function portArg(): number {
  const i = process.argv.indexOf("--port");
  const eq = process.argv.find((a) => a.startsWith("--port="));
  const raw = eq ? eq.slice(7) : i >= 0 ? process.argv[i + 1] : process.env.PORT;
  const n = Number(raw ?? 8080);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port: ${String(raw)}`);
  return n;
}

const sim = await startSimulator({ port: portArg(), host: "127.0.0.1" });
console.log(`OpenAI simulator listening on ${sim.url} (base URL ${sim.url}/v1, control API ${sim.url}/__sim/)`);
console.log("Built-in keys:");
for (const k of BUILTIN_KEYS) console.log(`  ${k.key.padEnd(20)} ${k.kind.padEnd(10)} ${k.note}`);
const stop = () => {
  void sim.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
