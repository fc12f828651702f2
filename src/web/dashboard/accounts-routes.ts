import type { FastifyInstance } from 'fastify';
import { findAccountForOrgOrThrow, listAccounts, toAccountView } from '../../accounts/account-view.js';
import { disconnectAccount } from '../../accounts/disconnect-account.js';
import { isPermissionProfile, type PermissionProfile } from '../../connect/permission-profiles.js';
import { toEventView } from '../../events/event-recorder.js';
import type { ServiceDeps } from '../../services.js';
import {
  type PageNotice,
  renderAccountPage,
  renderAccountsPage,
  renderAddAccountPage,
  renderDisconnectConfirmPage,
} from './accounts-pages.js';
import { connectSessionNotice } from './connect-return.js';
import { startConnect } from './connect-routes.js';
import { type DashboardContext, type DashboardContextOf, sendHtml } from './dashboard-context.js';
import { formField } from './form-fields.js';
import { listPendingConnections } from './pending-connections.js';

/** The accounts page lists this many; a later page of the list is the API's business. */
export const ACCOUNT_LIST_LIMIT = 200;
/** The account page shows the latest events (listEvents pages oldest-first for the API, so it is not used here). */
const TIMELINE_LIMIT = 100;

/**
 * The organisation's email accounts:
 * - `GET /dashboard`: every account with its status, the user's connections waiting for admin approval, and how
 *   the last connect attempt ended;
 * - `GET|POST /dashboard/accounts/new`: add one (choose what it is for, then Microsoft's sign-in);
 * - `GET /dashboard/accounts/:id`: status in plain words, permissions, the event timeline;
 * - `POST /dashboard/accounts/:id/reconnect`, `GET|POST /dashboard/accounts/:id/disconnect`.
 */
export function registerAccountPages(scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf): void {
  const { db, clock } = deps;

  scope.get('/', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    const query = request.query as Record<string, string | undefined>;
    const page = await listAccounts(db, organizationId, { limit: ACCOUNT_LIST_LIMIT });
    const now = clock.now();
    return sendHtml(
      reply,
      renderAccountsPage({
        signedIn,
        accounts: page.data.map((row) => toAccountView(row, now)),
        pending: await listPendingConnections(deps, organizationId, signedIn.ownerExternalId),
        more: page.nextCursor !== null,
        notice: await connectSessionNotice(db, organizationId, query['connect']),
      }),
    );
  });

  scope.get('/accounts/new', async (request, reply) =>
    sendHtml(reply, renderAddAccountPage({ signedIn: contextOf(request).signedIn })),
  );

  scope.post('/accounts/new', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    // The provider is chosen on the connect flow's first page; Microsoft is the one there is.
    const provider = formField(request, 'provider') ?? 'microsoft';
    const profile = formField(request, 'profile');
    if (provider !== 'microsoft' || !isPermissionProfile(profile)) {
      return sendHtml(
        reply,
        renderAddAccountPage({ signedIn, error: 'Choose what the mailbox will be used for.' }),
        400,
      );
    }
    return startConnect(deps, reply, {
      organizationId,
      ownerExternalId: signedIn.ownerExternalId,
      permissionProfile: profile,
      loginHint: undefined,
    });
  });

  scope.get('/accounts/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const query = request.query as Record<string, string | undefined>;
    return sendHtml(reply, await accountPage(deps, contextOf(request), id, query));
  });

  scope.post('/accounts/:id/reconnect', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    const account = await findAccountForOrgOrThrow(db, organizationId, id);
    // The account's own profile, or the warm-up profile when the user asks for it (incremental consent).
    const profile: PermissionProfile =
      formField(request, 'profile') === 'warmup'
        ? 'warmup'
        : isPermissionProfile(account.permission_profile)
          ? account.permission_profile
          : 'send';
    // The same owner as before, so the connect flow updates this account (same tid+oid) instead of another owner's.
    return startConnect(deps, reply, {
      organizationId,
      ownerExternalId: account.owner_external_id,
      permissionProfile: profile,
      loginHint: account.email,
    });
  });

  scope.get('/accounts/:id/disconnect', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    const account = toAccountView(await findAccountForOrgOrThrow(db, organizationId, id), clock.now());
    if (account.status === 'disconnected') return reply.redirect(`/dashboard/accounts/${account.id}`, 303);
    return sendHtml(reply, renderDisconnectConfirmPage({ signedIn, account }));
  });

  scope.post('/accounts/:id/disconnect', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    const account = await disconnectAccount(deps, organizationId, id);
    return reply.redirect(`/dashboard/accounts/${encodeURIComponent(account.id)}?disconnected=1`, 303);
  });
}

/** One account in plain words, its latest events, and what just happened to it (disconnected, or a connect attempt). */
async function accountPage(
  deps: ServiceDeps,
  { signedIn, organizationId }: DashboardContext,
  id: string,
  query: Record<string, string | undefined>,
): Promise<string> {
  const account = toAccountView(await findAccountForOrgOrThrow(deps.db, organizationId, id), deps.clock.now());
  const events = await deps.db
    .selectFrom('events')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('account_id', '=', account.id)
    .orderBy('id', 'desc')
    .limit(TIMELINE_LIMIT)
    .execute();
  const pageNotice: PageNotice | undefined =
    query['disconnected'] !== undefined && account.status === 'disconnected'
      ? {
          kind: 'info',
          text: `Disconnected ${account.email}.`,
          detail: 'Its tokens and their encryption key were deleted; mailbridge can no longer use this mailbox.',
        }
      : await connectSessionNotice(deps.db, organizationId, query['connect']);
  return renderAccountPage({ signedIn, account, events: events.map(toEventView), notice: pageNotice });
}
