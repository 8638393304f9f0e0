// The deploy bundle's "zod" (wrangler.toml [alias]): zod's own index, minus `z.locales`
// and `z.core.locales`. zod v4 hands every locale out through its namespace export, so
// a bundle that uses `z` carries all of them (≈ 360 KB); terapi speaks English only,
// and English stays registered (zod's schemas.js does it on the first schema built).
// Same modules, same instances: left out are the two locales namespaces and two entry
// points terapi never calls, `z.compile` (and its errors) and `z.fromJSONSchema` (≈ 40 KB).
// Tests and tsc use the real package; keep this in step with zod's index.js when zod changes.
import * as z from "./zod-en-external.js";
export * from "./zod-en-external.js";
export { z, z as default };
