import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { ServiceDeps } from '../../services.js';
import type { DashboardContextOf } from './dashboard-context.js';
import { hasOutsideSink, listOutsideMail } from './outside-mail.js';
import { renderOutsideMailPage } from './outside-mail-page.js';

/**
 * `GET /dashboard/outside-mail` (inside the dashboard plugin: its session hook and HTML error pages apply): the
 * organisation's mail in the emulator's outside sink (outside-mail.ts). Not found when not running on the emulator.
 */
export function registerOutsideMailPage(
  scope: FastifyInstance,
  deps: ServiceDeps,
  contextOf: DashboardContextOf,
): void {
  scope.get('/outside-mail', async (request, reply) => {
    if (!hasOutsideSink(deps.microsoft)) {
      throw new AppError('NOT_FOUND', 'There is an outside sink only when running on the emulator.', { status: 404 });
    }
    const { signedIn, organizationId } = contextOf(request);
    let body: string;
    try {
      body = renderOutsideMailPage({ signedIn, mail: await listOutsideMail(deps.db, deps.microsoft, organizationId) });
    } catch (error) {
      request.log.warn({ err: error }, 'the emulator outside sink could not be read');
      body = renderOutsideMailPage({ signedIn, mail: [], unavailable: true });
    }
    return reply.type('text/html; charset=utf-8').send(body);
  });
}
