import type { Kysely } from 'kysely';
import { findConnectSession } from '../../connect/connect-sessions.js';
import type { Database } from '../../db/schema.js';
import type { ConnectOutcomeKey } from '../../health/health.js';
import { CONNECT_OUTCOME_REMEDIATION } from '../../health/remediation.js';
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
 * Which connect session the browser came back from: the one this browser started (cookie), else an id the connect
 * flow put in the return URL. Only a session of the signed-in user's organisation counts.
 */
export async function findConnectOutcome(
  db: Kysely<Database>,
  organizationId: string,
  fromCookie: string | undefined,
  query: Record<string, unknown>,
): Promise<string | undefined> {
  const candidates = [
    fromCookie,
    query['connect_session_id'],
    query['connectSessionId'],
    query['session_id'],
    query['session'],
  ];
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
  _now: number,
): Promise<PageNotice | undefined> {
  if (!sessionId) return undefined;
  const session = await findConnectSession(db, sessionId);
  if (!session || session.organization_id !== organizationId) return undefined;
  const outcome = session.outcome ?? '';
  if (session.account_id && (session.status === 'completed' || outcome === 'connected' || outcome === 'reconnected')) {
    const account = await db
      .selectFrom('accounts')
      .select(['email', 'status'])
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
  if (session.status === 'awaiting_approval' || outcome.startsWith('approval_required')) {
    const remediation =
      remediationForOutcome(outcome) ?? CONNECT_OUTCOME_REMEDIATION['approval_required:approval_requested'];
    return {
      kind: 'info',
      text: `Waiting for your IT admin: ${remediation.title}`,
      detail: remediation.user,
    };
  }
  const remediation = remediationForOutcome(outcome);
  if (remediation) return { kind: 'error', text: remediation.title, detail: remediation.user };
  if (session.status === 'created' || session.status === 'started') {
    return {
      kind: 'error',
      text: 'The connection was not completed',
      detail: 'Nothing was connected. Choose Add email account to try again.',
    };
  }
  return undefined;
}

/** The connect flow stores an outcome key (`declined`, `approval_required:approval_requested` …) or its kind. */
function remediationForOutcome(outcome: string) {
  if (outcome === '') return undefined;
  const table = CONNECT_OUTCOME_REMEDIATION as Readonly<
    Record<string, (typeof CONNECT_OUTCOME_REMEDIATION)[ConnectOutcomeKey]>
  >;
  if (table[outcome]) return table[outcome];
  const key = Object.keys(table).find((candidate) => candidate.startsWith(`${outcome}:`));
  return key ? table[key] : undefined;
}
