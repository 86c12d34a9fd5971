// GET /prestamos/openapi.json: the OpenAPI 3.1 document of every route (no token needed).
import type { RouteRegistrar } from '../http-app.ts';
import { OPENAPI_DOCUMENT } from '../openapi.ts';

export const openApiRoutes: RouteRegistrar = (router) => {
  router.get('/prestamos/openapi.json', (_req, res) => {
    res.json(OPENAPI_DOCUMENT);
  });
};
