import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';

export function registerControlRoutes(_app: FastifyInstance, _ctx: EmulatorContext): void {
  // Filled in by the control module.
}
