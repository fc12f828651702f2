import type { FastifyInstance } from 'fastify';
import { listAccounts } from '../../accounts/account-view.js';
import { AppError } from '../../errors/app-error.js';
import { SENDING_STATUSES, setOwnerEmailProvider } from '../../owners/owners.js';
import type { ServiceDeps } from '../../services.js';
import type { PageNotice } from './accounts-pages.js';
import { ACCOUNT_LIST_LIMIT } from './accounts-routes.js';
import { type DashboardContext, type DashboardContextOf, ensureSignedInOwner, sendHtml } from './dashboard-context.js';
import { formField } from './form-fields.js';
import { renderCommunicationSettingsPage } from './settings-page.js';

/**
 * Settings → Communication: `GET|POST /dashboard/settings/communication`, the signed-in user's preferred channel and
 * email provider (Personal Outlook, their connected mailbox, or the operator's default provider: docs/product.md §3).
 * `GET /dashboard/settings` opens it.
 */
export function registerSettingsPages(scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf): void {
  scope.get('/settings', async (_request, reply) => reply.redirect('/dashboard/settings/communication', 303));

  scope.get('/settings/communication', async (request, reply) => {
    const context = contextOf(request);
    const query = request.query as Record<string, string | undefined>;
    const saved = query['saved'] !== undefined ? { kind: 'info' as const, text: 'Saved.' } : undefined;
    return sendHtml(reply, await communicationPage(deps, context, saved));
  });

  scope.post('/settings/communication', async (request, reply) => {
    const context = contextOf(request);
    const provider = formField(request, 'provider');
    const channel = formField(request, 'channel');
    if ((provider !== 'microsoft' && provider !== 'default') || (channel !== undefined && channel !== 'email')) {
      return sendHtml(
        reply,
        await communicationPage(deps, context, { kind: 'error', text: 'Choose an email provider.' }),
        400,
      );
    }
    try {
      await setOwnerEmailProvider(deps, context.organizationId, context.signedIn.ownerExternalId, provider);
    } catch (error) {
      if (error instanceof AppError && error.code === 'OWNER_NO_CONNECTED_ACCOUNT') {
        return sendHtml(
          reply,
          await communicationPage(deps, context, {
            kind: 'error',
            text: 'Personal Outlook needs a connected Microsoft account.',
            detail: 'Add an email account first, then choose Personal Outlook.',
          }),
          409,
        );
      }
      throw error;
    }
    return reply.redirect('/dashboard/settings/communication?saved=1', 303);
  });
}

async function communicationPage(
  deps: ServiceDeps,
  context: DashboardContext,
  pageNotice: PageNotice | undefined,
): Promise<string> {
  const owner = await ensureSignedInOwner(deps, context);
  const accounts = await listAccounts(deps.db, context.organizationId, {
    ownerExternalId: context.signedIn.ownerExternalId,
    limit: ACCOUNT_LIST_LIMIT,
  });
  const sending = accounts.data
    .filter((row) => row.provider === 'microsoft' && (SENDING_STATUSES as readonly string[]).includes(row.status))
    .map((row) => row.email);
  return renderCommunicationSettingsPage({
    signedIn: context.signedIn,
    provider: owner.email_provider,
    sendingAccounts: sending,
    defaultSender: deps.config.smtp?.from,
    notice: pageNotice,
  });
}
