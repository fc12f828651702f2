import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services.js';

/** Registers the dashboard (/dashboard). */
export async function registerDashboardRoutes(_app: FastifyInstance, _deps: ServiceDeps): Promise<void> {
  // Filled in by its module.
}
