// One JSON call to a local service during set-up (demo, e2e tests, bench).
/** A JSON request that must succeed (setup calls); throws with the response on anything but 2xx. */
export async function jsonCall<T>(method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status}: ${text.slice(0, 500)}`);
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}
