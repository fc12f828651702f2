import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';

export function registerGraphRoutes(_app: FastifyInstance, _ctx: EmulatorContext): void {
  // Filled in by the graph module.
}
