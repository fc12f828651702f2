import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import { isoTime } from '../platform/clock.js';
import { type ConnectStatus, failureFromStored, failureStatus } from './connect-ends.js';
import { isSessionExpired } from './connect-sessions.js';

/**
 * Where a connect session stands, as `GET /v1/connect-sessions/{id}` answers it, so the host can check what the
 * browser's return URL claims: `pending` (the user has not finished), `awaiting_approval` (an IT admin must approve;
 * the user finishes later), `completed`, `failed` (the user may still try again until `expiresAt`), `expired`.
 */
export const CONNECT_SESSION_STATES = ['pending', 'awaiting_approval', 'completed', 'failed', 'expired'] as const;
export type ConnectSessionState = (typeof CONNECT_SESSION_STATES)[number];

export interface ConnectSessionView {
  id: string;
  ownerId: string;
  permissionProfile: string;
  state: ConnectSessionState;
  /** The `status` and `reason` the return URL carried (or would carry) for the latest end; null while pending. */
  outcome: { status: ConnectStatus; reason: string | null } | null;
  accountId: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export function toConnectSessionView(session: ConnectSessionsTable, now: number): ConnectSessionView {
  return {
    id: session.id,
    ownerId: session.owner_external_id,
    permissionProfile: session.permission_profile,
    ...stateOf(session, now),
    accountId: session.account_id,
    expiresAt: isoTime(session.expires_at),
    createdAt: isoTime(session.created_at),
    updatedAt: isoTime(session.updated_at),
  };
}

function stateOf(session: ConnectSessionsTable, now: number): Pick<ConnectSessionView, 'state' | 'outcome'> {
  const ended = session.outcome === null ? null : endOf(session.outcome, session.expected_email);
  if (session.status === 'completed' && ended) return { state: 'completed', outcome: ended };
  if (session.status === 'awaiting_approval' && !isSessionExpired(session, now)) {
    return { state: 'awaiting_approval', outcome: ended };
  }
  if (isSessionExpired(session, now)) {
    return {
      state: session.status === 'failed' ? 'failed' : 'expired',
      outcome: ended ?? { status: 'expired', reason: null },
    };
  }
  if (session.status === 'failed' && ended) return { state: 'failed', outcome: ended };
  return { state: 'pending', outcome: null };
}

function endOf(outcome: string, expectedEmail: string | null): { status: ConnectStatus; reason: string | null } {
  if (outcome === 'connected' || outcome === 'reconnected') return { status: outcome, reason: null };
  const { status, reason } = failureStatus(failureFromStored(outcome, expectedEmail));
  return { status, reason: reason ?? null };
}
