/** Where globalSetup starts the OpenAI simulator for the test run. */
export const SIMULATOR_PORT = Number(process.env.TERAPI_TEST_SIMULATOR_PORT ?? 18_431);
export const SIMULATOR_URL = `http://127.0.0.1:${SIMULATOR_PORT}`;

/** Worker secrets for tests: two secret keys (rotation) and two master keys. */
export const TEST_SECRET_KEYS = ["test-secret-key-current", "test-secret-key-previous"] as const;
export const TEST_BINDINGS = {
  TERAPI_SECRET_KEY: TEST_SECRET_KEYS.join(","),
  // 32 random bytes, base64; `k1` writes.
  TERAPI_ENCRYPTION_KEY: "k1:q4e1cG9hH0m2q6bq3vJ0xS9Sg3mB4n0q6m2Tt0mV8Ik=",
  // The tests' origin (test/harness/connections.ts TERAPI): connect links point there.
  TERAPI_PUBLIC_URL: "http://terapi.test",
};
