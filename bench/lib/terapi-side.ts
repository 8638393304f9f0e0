// One terapi side of a focused bench tool (--cpu-ab, --profile, --streams, bench/tail.ts): its own
// workerd, the bench's integration and one connection, and the target that calls it through the proxy.
import { createConnection, createIntegration, newSecrets, type RunningTerapi, startMiniflare } from "../../scripts/lib/terapi.ts";
import type { Target } from "./http.ts";

const INTEGRATION = "openai-bench";
const CONNECTION_ID = "bench-tenant";

/** terapi from `bundleDir` (its wrangler.toml under `root`), served from workerd's own socket, set up on the simulator key `simKey`. */
export async function startTerapiSide(opts: {
  name: string;
  root: string;
  bundleDir: string;
  simUrl: string;
  simKey: string;
  usage?: string;
  /** Served from workerd's own socket (default) or through Miniflare's entry worker (`--entry-worker`). */
  directSocket?: boolean;
}): Promise<{ t: RunningTerapi; target: Target }> {
  const secrets = newSecrets();
  const t = await startMiniflare({
    root: opts.root,
    bundleDir: opts.bundleDir,
    simUrl: opts.simUrl,
    secrets,
    directSocket: opts.directSocket ?? true,
    usage: opts.usage,
  });
  try {
    await createIntegration(t.origin, secrets.secretKey, INTEGRATION);
    await createConnection(t.origin, secrets.secretKey, INTEGRATION, CONNECTION_ID, opts.simKey);
  } catch (err) {
    await t.stop();
    throw err;
  }
  const headers = { authorization: `Bearer ${secrets.secretKey}`, "connection-id": CONNECTION_ID, "provider-config-key": INTEGRATION };
  return { t, target: { name: opts.name, base: `${t.origin}/proxy`, headers } };
}
