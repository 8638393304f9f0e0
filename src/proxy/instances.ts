import { loadConnectionSecret } from "../store/connection-secret";
import { createConnectionCache } from "./connection-cache";
import { createForwarder } from "./forward";
import { createRateLimitView } from "./rate-limit-view";

/**
 * One of each per isolate, shared by every route that calls the provider
 * (proxy, actions): decrypted connections for a few seconds, one picture of
 * each connection's budget, and the forwarder that reads and updates it.
 */
export const connectionCache = createConnectionCache(loadConnectionSecret);
const rateLimitView = createRateLimitView();
export const forward = createForwarder(rateLimitView);
