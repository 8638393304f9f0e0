// The tests' one way to wait for something, in workerd (Worker tests) and in Node (e2e, node).

/**
 * Polls `check` until it returns a truthy value. For what the
 * system does on its own time (a waitUntil, an immediate alarm); a test drives alarms it can drive
 * (runDurableObjectAlarm) instead of waiting for them. `timeoutMs` is a deadline against hanging,
 * not an assertion on speed; `everyMs` spaces the checks.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 8_000, everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
