import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services.js';

/** Registers the host API (/v1). */
export async function registerApiRoutes(_app: FastifyInstance, _deps: ServiceDeps): Promise<void> {
  // Filled in by its module.
}
