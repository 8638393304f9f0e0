import type { TestProject } from "vitest/node";
import { startReceiver } from "./receiver.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the scriptable webhook receiver (test/harness/receiver.ts). */
    receiverUrl: string;
  }
}

/**
 * Starts the webhook receiver for delivery tests. Port 0 (any free port) by
 * default so parallel runs never collide; TERAPI_TEST_RECEIVER_PORT pins it.
 * Tests read the URL with `inject("receiverUrl")`.
 */
export default async function setup(project: TestProject) {
  const receiver = await startReceiver({ port: Number(process.env.TERAPI_TEST_RECEIVER_PORT ?? 0), host: "127.0.0.1" });
  project.provide("receiverUrl", receiver.url);
  return async () => {
    await receiver.close();
  };
}
