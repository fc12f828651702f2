import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { ApiFeature } from './api/api-features.js';
import { registerApiRoutes } from './api/routes.js';
import { AppError } from './errors/app-error.js';
import { registerOpsRoutes } from './ops/ops-routes.js';
import type { ServiceDeps } from './services.js';
import { WARMUP_API } from './warmup/warmup-api-routes.js';
import { registerWarmupPages } from './warmup/warmup-dashboard-routes.js';
import { registerConnectRoutes } from './web/connect-routes.js';
import { registerDashboardRoutes } from './web/dashboard/routes.js';
import { registerHomePage } from './web/home-page.js';
import { registerSecurityHeaders } from './web/security-headers.js';
import { registerStaticAssets } from './web/static-assets.js';

/** Features the API serves without importing them (api-features.ts); the OpenAPI test documents the same list. */
export const API_FEATURES: readonly ApiFeature[] = [WARMUP_API];

/**
 * The HTTP app: host API (`/v1`), hosted connect pages (`/connect`), dashboard (`/dashboard`). Builds and returns
 * the Fastify instance; never listens (main.ts does; tests use `inject()` or `listen({ port: 0 })`).
 */
export async function buildApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and Fastify's logger interface differ only in generics.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // The connect callback and API carry at most a few KB; attachments go through the send API (own limit).
    bodyLimit: 40 * 1024 * 1024,
    trustProxy: false,
  });
  await app.register(cookie);
  await app.register(formbody);
  // A strict CSP: no inline script or style anywhere; pages load /assets only.
  registerSecurityHeaders(app, formTargets(deps));

  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError && error.status < 500) {
      return reply
        .code(error.status)
        .send({ error: { code: error.code, message: error.message, details: error.details } });
    }
    if ('validation' in error && error.validation) {
      return reply.code(400).send({ error: { code: 'REQUEST_INVALID', message: error.message } });
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status < 500) {
      return reply.code(status).send({ error: { code: error.code ?? 'REQUEST_INVALID', message: error.message } });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'Something went wrong on our side.' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  // Probes arrive every few seconds: log them only when something is wrong.
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  registerOpsRoutes(app, deps);
  registerStaticAssets(app);
  registerHomePage(app, deps);
  await registerApiRoutes(app, deps, API_FEATURES);
  await registerConnectRoutes(app, deps);
  await registerDashboardRoutes(app, deps, [registerWarmupPages]);
  return app;
}

/** Where our pages' forms may post (or be redirected to): ourselves, and Microsoft's sign-in. */
function formTargets(deps: ServiceDeps): string[] {
  // The connect flow's start form answers 303 to Microsoft's sign-in, and browsers apply form-action to a form's
  // redirects too: Microsoft's login origin (or the emulator serving it) must be allowed in both modes.
  return [deps.microsoft.routes.login];
}
