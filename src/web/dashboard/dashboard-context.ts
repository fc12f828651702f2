import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardSession } from '../../dashboard-auth/dashboard-sessions.js';
import type { OwnersTable } from '../../db/tables/accounts.js';
import { ensureOwner } from '../../owners/owners.js';
import type { ServiceDeps } from '../../services.js';
import type { SignedIn } from './accounts-pages.js';

/** What the dashboard's session hook (routes.ts) established for a request: who is signed in, in which organisation. */
export interface DashboardContext {
  session: DashboardSession;
  signedIn: SignedIn;
  organizationId: string;
}

/** The signed-in context of a request; throws for a route the session hook did not run for (a programming error). */
export type DashboardContextOf = (request: FastifyRequest) => DashboardContext;

/**
 * One group of dashboard pages: registers its routes on the dashboard plugin's scope (paths relative to
 * `/dashboard`), where the session hook, form tokens and HTML error pages of routes.ts apply to them.
 */
export type DashboardPageGroup = (scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf) => void;

export function sendHtml(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

/**
 * The signed-in user's own owner row, created on first use: a dashboard user is their own owner (accounts they add
 * belong to it, and "my preferred provider" is its email provider). The one place the dashboard makes sure it exists.
 */
export function ensureSignedInOwner(
  deps: Pick<ServiceDeps, 'db' | 'clock'>,
  context: DashboardContext,
): Promise<OwnersTable> {
  return ensureOwner(deps.db, deps.clock, context.organizationId, context.signedIn.ownerExternalId);
}
