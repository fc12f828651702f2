import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import { type ConnectEnd, type ConnectStatus, failureStatus } from './connect-ends.js';

type ReturnTarget = Pick<ConnectSessionsTable, 'id' | 'return_url'>;

/**
 * The host app's return URL with the result appended: `mailbridge_session=<id>&status=<status>` plus
 * `account_id=<id>` when connected or `reason=<reason>` when the failure has one. The URL itself was checked against
 * the organisation's allow-list when the session was created; its own query is kept.
 */
export function returnUrlWithResult(session: ReturnTarget, end: ConnectEnd): string | null {
  if (end.status === 'failed') {
    const { status, reason } = failureStatus(end.failure);
    return returnUrlWithStatus(session, status, reason === undefined ? {} : { reason });
  }
  return returnUrlWithStatus(session, end.status, { account_id: end.accountId });
}

export function returnUrlWithStatus(
  session: ReturnTarget,
  status: ConnectStatus,
  extra: Record<string, string> = {},
): string | null {
  if (!session.return_url) return null;
  const url = new URL(session.return_url);
  url.searchParams.set('mailbridge_session', session.id);
  url.searchParams.set('status', status);
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  return url.href;
}
