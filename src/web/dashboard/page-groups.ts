import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceDeps } from '../../services.js';
import type { MessagePagesContext } from './messages-routes.js';

/**
 * A group of dashboard pages from a feature the dashboard does not import (warm-up, issue 12). The composition root
 * (src/app.ts) passes them to `registerDashboardRoutes`, which registers them inside the dashboard plugin: its
 * session hook, form tokens (csrf.ts), `no-store` and HTML error pages apply to them as to its own pages.
 * `contextOf` gives the signed-in user and organisation of a request.
 */
export type DashboardPageGroup = (
  scope: FastifyInstance,
  deps: ServiceDeps,
  contextOf: (request: FastifyRequest) => MessagePagesContext,
) => void;
