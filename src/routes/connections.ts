import { createRouter } from "../openapi";

/** `/connections` (API key auth), metadata, rotation (built in the foundation issue). */
export const connectionRoutes = createRouter();
