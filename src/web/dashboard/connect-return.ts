import type { Kysely } from 'kysely';
import { failureFromStored, failureText } from '../../connect/connect-ends.js';
import { findConnectSession } from '../../connect/connect-sessions.js';
import type { Database } from '../../db/schema.js';
import { getOrganization, isReturnUrlAllowed, updateOrganization } from '../../orgs/organizations.js';
import type { ServiceDeps } from '../../services.js';
import type { PageNotice } from './accounts-pages.js';

/** Where the hosted connect flow sends the browser back when the dashboard started it. */
export function connectReturnUrl(publicUrl: string): string {
  return `${publicUrl}/dashboard/connect-return`;
}

/**
 * The dashboard's return URL, added to its organisation's allow-list when missing (the connect flow refuses return
 * URLs outside it: no open redirects). Undefined when PUBLIC_URL cannot be allow-listed (plain http on a host other
 * than loopback): the connect flow then ends on its own outcome page, and the user comes back by hand.
 */
export async function ensureDashboardReturnUrlAllowed(
  deps: Pick<ServiceDeps, 'db' | 'config' | 'logger'>,
  organizationId: string,
): Promise<string | undefined> {
  const returnUrl = connectReturnUrl(deps.config.publicUrl);
  const organization = await getOrganization(deps.db, organizationId);
  if (!organization) return undefined;
  if (isReturnUrlAllowed(organization, returnUrl)) return returnUrl;
  try {
    await updateOrganization(deps.db, organizationId, {
      allowedReturnUrls: [...organization.allowedReturnUrls, returnUrl],
    });
    return returnUrl;
  } catch (error) {
    deps.logger.warn(
      { err: error, organizationId },
      'the dashboard cannot allow-list its return URL (PUBLIC_URL must be https, or http on localhost): connections from the dashboard will not return to it',
    );
    return undefined;
  }
}

/**
 * Which connect session the browser came back from: the `mailbridge_session` the connect flow appends to the
 * return URL (return-url.ts), else the one this browser started (cookie). Only a session of the signed-in
 * user's organisation counts. The notice is then read from the session row, not from the URL's `status`.
 */
export async function findConnectOutcome(
  db: Kysely<Database>,
  organizationId: string,
  fromCookie: string | undefined,
  query: Record<string, unknown>,
): Promise<string | undefined> {
  const candidates = [query['mailbridge_session'], fromCookie];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    const session = await findConnectSession(db, candidate);
    if (session && session.organization_id === organizationId) return session.id;
  }
  return undefined;
}

/** What to tell the user about how a connect attempt ended (the dashboard's "Connected as …" notice). */
export async function connectSessionNotice(
  db: Kysely<Database>,
  organizationId: string,
  sessionId: string | undefined,
): Promise<PageNotice | undefined> {
  if (!sessionId) return undefined;
  const session = await findConnectSession(db, sessionId);
  if (!session || session.organization_id !== organizationId) return undefined;
  const outcome = session.outcome ?? '';
  if (session.account_id && (outcome === 'connected' || outcome === 'reconnected')) {
    const account = await db
      .selectFrom('accounts')
      .select(['email'])
      .where('id', '=', session.account_id)
      .where('organization_id', '=', organizationId)
      .executeTakeFirst();
    if (account) {
      return {
        kind: 'info',
        text: `${outcome === 'reconnected' ? 'Reconnected' : 'Connected'} as ${account.email}`,
        detail: 'The account is ready to send.',
      };
    }
  }
  if (outcome !== '' && outcome !== 'connected' && outcome !== 'reconnected') {
    const text = failureText(failureFromStored(outcome, session.expected_email));
    if (session.status === 'awaiting_approval' || outcome.startsWith('approval_required')) {
      return { kind: 'info', text: `Waiting for your IT admin: ${text.title}`, detail: text.user };
    }
    return { kind: 'error', text: text.title, detail: text.user };
  }
  if (session.status !== 'completed') {
    return {
      kind: 'error',
      text: 'The connection was not completed',
      detail: 'Nothing was connected. Choose Add email account to try again.',
    };
  }
  return undefined;
}
