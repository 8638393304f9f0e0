import type { Scenario } from "../lib/types.ts";
import { latencyScenario } from "./latency.ts";
import { modelsScenario } from "./models.ts";
import { rateLimitScenario } from "./rate-limit.ts";
import { sseScenario } from "./sse.ts";
import { syncScenario } from "./sync.ts";
import { tokensScenario } from "./tokens.ts";
import { latentThroughputScenario } from "./throughput-latent.ts";
import { throughputScenario } from "./throughput.ts";

/** Run in this order; each against the modes it lists. Add new scenarios here. */
export const scenarios: Scenario[] = [
  latencyScenario,
  throughputScenario,
  latentThroughputScenario,
  sseScenario,
  rateLimitScenario,
  modelsScenario,
  tokensScenario,
  syncScenario,
];
