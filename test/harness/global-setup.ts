import type { TestProject } from "vitest/node";
import { startSimulator } from "../simulator/server.ts";
import { SIMULATOR_PORT } from "./constants.ts";

/** One simulator for the whole run; tests isolate by using their own keys. */
export default async function setup(_project: TestProject) {
  const sim = await startSimulator({ port: SIMULATOR_PORT, host: "127.0.0.1" });
  return async () => {
    await sim.close();
  };
}
