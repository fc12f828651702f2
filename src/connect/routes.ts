import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services.js';

/** Registers the hosted connect flow (/connect). */
export async function registerConnectRoutes(_app: FastifyInstance, _deps: ServiceDeps): Promise<void> {
  // Filled in by its module.
}
