import { createForwarder } from "./forward";
import { createRateLimitView } from "./rate-limit-view";

/**
 * One of each per isolate, shared by every route that calls the provider
 * (proxy, actions): one picture of each connection's budget, and the
 * forwarder that reads and updates it. (The decrypted connections are
 * src/connections/cache.ts's.)
 */
const rateLimitView = createRateLimitView();
export const forward = createForwarder(rateLimitView);
