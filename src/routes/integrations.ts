import { createRouter } from "../openapi";

/** `/integrations` CRUD (built in the foundation issue). */
export const integrationRoutes = createRouter();
