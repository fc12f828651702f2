import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorTable } from '../errors/error-table.js';
import type { ServiceDeps } from '../services.js';
import { checkReadiness } from './readiness.js';

/** The ops listener's codes (src/errors/error-table.ts). */
export const OPS_ERRORS = {
  OPS_UNAUTHORIZED: {
    status: 401,
    description: '`/metrics` and `/readyz` need `Authorization: Bearer <MAILBRIDGE_METRICS_TOKEN>`.',
  },
} as const satisfies ErrorTable;

/**
 * `/readyz` and `/metrics`, which tell an outsider more than a public endpoint should (queue depths, account
 * counts, which dependency is down), and `/healthz` (liveness: the process answers; says nothing else).
 *
 * Who may read them: `MAILBRIDGE_METRICS_TOKEN`, when set, as `Authorization: Bearer <token>` on every listener.
 * Without a token they are not served on PORT at all (404, like any unknown path) and are served openly on the ops
 * listener (`MAILBRIDGE_OPS_PORT`), which exists only when the operator opens it, for an internal network.
 * Why not "loopback only" on PORT: behind a reverse proxy on the same host every public request arrives from
 * 127.0.0.1, and proxies do not all add X-Forwarded-For, so a loopback rule would publish the metrics by default.
 * Failing closed on PORT and opening a separate port on purpose cannot leak by accident.
 */

/** `public`: the PORT listener (API, pages, dashboard). `ops`: the dedicated ops listener. */
export type OpsListener = 'public' | 'ops';

export const METRICS_TOKEN_HINT =
  'set MAILBRIDGE_METRICS_TOKEN (then send Authorization: Bearer <token>) or MAILBRIDGE_OPS_PORT to read /metrics and /readyz';

export function registerOpsRoutes(app: FastifyInstance, deps: ServiceDeps, listener: OpsListener = 'public'): void {
  const token = deps.config.ops.metricsToken;
  // Without a token, PORT does not serve these routes at all: nothing to find, nothing to guess.
  if (listener === 'public' && token === undefined) return;

  const allowed = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (token === undefined) return true;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] !== undefined && token.equals(match[1])) return true;
    void reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="mailbridge-ops"')
      .header('cache-control', 'no-store')
      .send({
        error: {
          code: 'OPS_UNAUTHORIZED',
          message: 'This endpoint needs Authorization: Bearer <MAILBRIDGE_METRICS_TOKEN>.',
        },
      });
    return false;
  };

  app.get('/readyz', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const readiness = await checkReadiness(deps, deps.lifecycle);
    reply.header('cache-control', 'no-store');
    if (readiness.ready) return reply.code(200).send({ status: 'ready', checks: readiness.checks });
    return reply.code(503).send({ status: 'not_ready', failed: readiness.failed, checks: readiness.checks });
  });

  app.get('/metrics', async (request, reply) => {
    if (!allowed(request, reply)) return reply;
    const registry = deps.metrics.registry;
    const body = await registry.metrics();
    return reply.code(200).header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
