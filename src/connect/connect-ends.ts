import type { NewEvent } from '../events/event-recorder.js';
import { ALL_CONNECT_OUTCOME_KEYS, type ConnectOutcomeKey } from '../health/health.js';
import { CONNECT_OUTCOME_REMEDIATION } from '../health/remediation.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';

/**
 * How a connect attempt ends: the outcome page shown, the `status` (and `reason`) sent back to the host app's return
 * URL, and the `outcome` stored on the session (`<status>` or `<status>:<reason>`).
 *
 * - `connected` / `reconnected`: the account is stored (same `tid` + `oid` again → `reconnected`, same account id).
 * - Microsoft's answers (classified by `classifyConnectOutcome`): `cancelled`, `declined`, `approval_required`,
 *   `app_misconfigured`, `wrong_account_type`, `sign_in_blocked`, `try_again`, `unknown`.
 * - Our own checks after a successful exchange (tokens discarded, nothing stored): `missing_scopes` (a permission of
 *   the profile was not granted), `wrong_account` (not the expected email), `already_connected_elsewhere` (the
 *   mailbox belongs to another owner of the organisation), `verification_failed` (Microsoft's answer did not verify:
 *   id_token signature, issuer, audience, nonce, or no `oid`/`tid`).
 */
export type ConnectEnd =
  | { status: 'connected' | 'reconnected'; accountId: string; email: string }
  | { status: 'failed'; failure: ConnectFailure };

export type ConnectFailure =
  | { kind: 'outcome'; key: ConnectOutcomeKey; evidence?: ErrorEvidence | undefined }
  | { kind: 'missing_scopes'; missing: string[] }
  | { kind: 'wrong_account'; expectedEmail: string; actualEmail?: string | undefined }
  | { kind: 'already_connected_elsewhere'; email?: string | undefined }
  | { kind: 'verification_failed' };

/** Every `status` the return URL can carry. */
export const CONNECT_STATUSES = [
  'connected',
  'reconnected',
  'cancelled',
  'declined',
  'approval_required',
  'app_misconfigured',
  'wrong_account_type',
  'sign_in_blocked',
  'try_again',
  'unknown',
  'missing_scopes',
  'wrong_account',
  'already_connected_elsewhere',
  'verification_failed',
  /** The session ran out before the user finished (or they came back too late). */
  'expired',
] as const;
export type ConnectStatus = (typeof CONNECT_STATUSES)[number];

/** Every `reason` the return URL can carry beside a `status` (the part after `:` of an outcome key). */
export const CONNECT_REASONS = [
  ...new Set(ALL_CONNECT_OUTCOME_KEYS.flatMap((key) => (key.includes(':') ? [key.split(':')[1] as string] : []))),
];

/** `status` and `reason` of a failure, as the return URL names them. */
export function failureStatus(failure: ConnectFailure): { status: ConnectStatus; reason?: string } {
  if (failure.kind !== 'outcome') return { status: failure.kind };
  const [status, reason] = failure.key.split(':') as [ConnectStatus, string | undefined];
  return reason === undefined ? { status } : { status, reason };
}

/**
 * The event that reports how an attempt ended (in the transaction that records the end): `connect.completed`,
 * `connect.cancelled` (the user backed out at Microsoft), or `connect.failed` with the status and reason the return
 * URL carries, so the host learns the outcome from a signed webhook instead of trusting the browser's query string.
 */
export function connectEndEvent(
  session: { id: string; organization_id: string; owner_external_id: string },
  end: ConnectEnd,
): NewEvent {
  const base = { organizationId: session.organization_id, ownerExternalId: session.owner_external_id };
  const ids = { connectSessionId: session.id, ownerId: session.owner_external_id };
  if (end.status !== 'failed') {
    // No account_id on the row: the account's own timeline already has account.connected for this moment.
    return { ...base, type: 'connect.completed', data: { ...ids, status: end.status, accountId: end.accountId } };
  }
  const { status, reason } = failureStatus(end.failure);
  return {
    ...base,
    type: status === 'cancelled' ? 'connect.cancelled' : 'connect.failed',
    data: { ...ids, status, reason: reason ?? null },
  };
}

/**
 * The event for a session the user never came back to (connect-expiry.ts): `connect.failed` with status `expired`
 * and no reason. Not a type of its own: `expired` already is a `status` of the ConnectOutcome enum (what the return
 * URL and `GET /v1/connect-sessions/{id}` say of such a session), so hosts handle it where they handle every other
 * failed end, with the same `{ status, reason }` shape.
 */
export function connectExpiredEvent(session: {
  id: string;
  organization_id: string;
  owner_external_id: string;
}): NewEvent {
  return {
    organizationId: session.organization_id,
    ownerExternalId: session.owner_external_id,
    type: 'connect.failed',
    data: { connectSessionId: session.id, ownerId: session.owner_external_id, status: 'expired', reason: null },
  };
}

/** The session's `outcome` column for an end. */
export function storedOutcome(end: ConnectEnd): string {
  if (end.status !== 'failed') return end.status;
  return end.failure.kind === 'outcome' ? end.failure.key : end.failure.kind;
}

/** A failure from the session's `outcome` column (without the details only the moment it happened had). */
export function failureFromStored(outcome: string, expectedEmail: string | null): ConnectFailure {
  switch (outcome) {
    case 'missing_scopes':
      return { kind: 'missing_scopes', missing: [] };
    case 'wrong_account':
      return { kind: 'wrong_account', expectedEmail: expectedEmail ?? '' };
    case 'already_connected_elsewhere':
      return { kind: 'already_connected_elsewhere' };
    case 'verification_failed':
      return { kind: 'verification_failed' };
    default:
      return {
        kind: 'outcome',
        key: (ALL_CONNECT_OUTCOME_KEYS as readonly string[]).includes(outcome)
          ? (outcome as ConnectOutcomeKey)
          : 'unknown',
      };
  }
}

export interface FailureText {
  title: string;
  /** What the end user reads: plain words, what happened and what to do. */
  user: string;
  /** Whether trying again (a new sign-in for the same session) can help. */
  retry: boolean;
}

/** Outcomes after which a new attempt cannot help until someone else acts (operator, IT admin, policy). */
const NO_RETRY: ReadonlySet<string> = new Set(['app_misconfigured', 'approval_required', 'sign_in_blocked']);

/**
 * An app-level outcome read from the callback's error (front channel): Microsoft does redirect some (an invalid scope,
 * `unauthorized_client`), but so can anyone holding the link, so no operator alert was raised (app-alerts.ts).
 */
export function fromFrontChannel(failure: ConnectFailure): boolean {
  return (
    failure.kind === 'outcome' &&
    failure.key.startsWith('app_misconfigured') &&
    failure.evidence !== undefined &&
    failure.evidence.source !== 'token_endpoint'
  );
}

const FRONT_CHANNEL_APP_PROBLEM = {
  title: "Microsoft refused this service's sign-in request",
  user: "Microsoft refused the sign-in request because of how this service is set up, so nothing was connected. Nothing is wrong with your account. Please tell this service's support, with the reference below.",
};

export function failureText(failure: ConnectFailure): FailureText {
  switch (failure.kind) {
    case 'outcome': {
      // An app-level error that came through the browser alerted nobody (it may be forged): say so honestly.
      const remediation = fromFrontChannel(failure)
        ? FRONT_CHANNEL_APP_PROBLEM
        : CONNECT_OUTCOME_REMEDIATION[failure.key];
      const status = failure.key.split(':')[0] ?? failure.key;
      // MFA and an expired password can be fixed by the user, then a new attempt works.
      const retry =
        !NO_RETRY.has(status) ||
        failure.key === 'sign_in_blocked:mfa_required' ||
        failure.key === 'sign_in_blocked:password_expired' ||
        failure.key === 'sign_in_blocked:user_not_found';
      return { title: remediation.title, user: remediation.user, retry };
    }
    case 'missing_scopes':
      return {
        title: 'A permission was not given',
        user:
          "Microsoft didn't give this service every permission it asked for (a permission may have been unticked, " +
          "or your organisation didn't allow it), so nothing was connected. Try again and allow all the listed " +
          'permissions; if your organisation blocks one, ask your IT admin.',
        retry: true,
      };
    case 'wrong_account':
      return {
        title: 'A different account was used',
        user:
          `You signed in with ${failure.actualEmail ?? 'another account'}, but this connection is for ` +
          `${failure.expectedEmail || 'a different address'}. Nothing was connected. Try again and choose that account.`,
        retry: true,
      };
    case 'already_connected_elsewhere':
      return {
        title: 'Already connected by someone else',
        user:
          `${failure.email ?? 'This mailbox'} is already connected to another user here, so it was not connected ` +
          'again. Ask that user to disconnect it first, or connect a different mailbox.',
        retry: true,
      };
    case 'verification_failed':
      return {
        title: "We couldn't verify Microsoft's answer",
        user: "Microsoft's answer could not be verified, so nothing was connected. Please try again; if it keeps happening, contact support.",
        retry: true,
      };
  }
}
