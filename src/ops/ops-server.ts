import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { ServiceDeps } from '../services.js';
import { registerOpsRoutes } from './ops-routes.js';

/**
 * The ops listener (`MAILBRIDGE_OPS_PORT`): `/healthz`, `/readyz` and `/metrics` and nothing else. It is how a
 * `worker` process, which never listens on PORT, is probed and scraped; an `api` or `all` process may open one too,
 * to be scraped on an internal port without a token. Probes arrive every few seconds: requests are not logged.
 */
export async function startOpsServer(
  deps: ServiceDeps,
  options: { port: number; host?: string },
): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
  });
  // Probes arrive every few seconds: log them only when something is wrong.
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  registerOpsRoutes(app, deps, 'ops');
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}` } }),
  );
  // All interfaces: a container's probes and Prometheus reach it on the pod or host address, not on loopback.
  const url = await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  return { app, url };
}
