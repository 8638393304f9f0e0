import { createRouter } from "../openapi";

/** `ANY /proxy/*` and `GET /proxy/requests/:id` (built in the proxy issue). */
export const proxyRoutes = createRouter();
