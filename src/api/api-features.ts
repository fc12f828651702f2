import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services.js';
import type { ApiOperation } from './openapi.js';

/**
 * A feature that serves routes under `/v1` without the API importing it (warm-up, issue 12: "a feature the rest of
 * the service does not import"). The composition root (src/app.ts) hands the API its features: their routes are
 * registered in the API's authenticated scope (API key, organisation, JSON bodies, the API's error answers), and
 * their operations and error codes join the OpenAPI document.
 */
export interface ApiFeature {
  readonly operations: readonly ApiOperation[];
  /** The error codes the feature's routes answer with, as `API_ERRORS` lists the API's own. */
  readonly errors: Readonly<Record<string, { status: number; description: string }>>;
  /** Registers the routes; `secured` is the API's authenticated scope (use `apiAuthOf` for the organisation). */
  register(secured: FastifyInstance, deps: ServiceDeps): void;
}
