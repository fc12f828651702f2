import type { ConnectSessionsTable } from '../db/tables/accounts.js';
import { CONNECT_OUTCOME_REMEDIATION } from '../health/remediation.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import { approvalPage, connectedPage, failurePage, type ReferenceView } from '../web/connect-pages.js';
import type { ApprovalHandOff } from './admin-approval.js';
import { type ConnectEnd, type ConnectFailure, failureStatus, failureText, fromFrontChannel } from './connect-ends.js';
import { isSessionExpired, sessionProfile } from './connect-sessions.js';
import { PERMISSION_DESCRIPTIONS, permissionLines } from './permission-profiles.js';
import { returnUrlWithResult } from './return-url.js';

/** Turns how an attempt ended into its page (the routes add status codes and cookies). */

type ViewDeps = Pick<ServiceDeps, 'microsoft' | 'clock'>;

export function renderEnd(
  deps: ViewDeps,
  session: ConnectSessionsTable,
  end: ConnectEnd,
  approval: ApprovalHandOff | undefined,
): string {
  if (end.status !== 'failed') {
    return connectedPage({ status: end.status, email: end.email, continueUrl: returnUrlWithResult(session, end) });
  }
  const { failure } = end;
  if (failure.kind === 'outcome' && failure.key.startsWith('approval_required') && approval) {
    return renderApproval(deps, session, failure, approval);
  }
  const text = failureText(failure);
  const live = !isSessionExpired(session, deps.clock.now());
  return failurePage({
    status: failureStatus(failure).status,
    title: text.title,
    message: text.user,
    sessionId: session.id,
    canRetry: text.retry && live,
    backUrl: returnUrlWithResult(session, end),
    // Only a token response the service received alerts the operator (app-alerts.ts).
    operatorTold:
      failure.kind === 'outcome' && failure.key.startsWith('app_misconfigured') && !fromFrontChannel(failure),
    accountKinds:
      failure.kind === 'outcome' && failure.key === 'wrong_account_type'
        ? acceptedAccountKinds(deps.microsoft.tenant)
        : undefined,
    missingPermissions:
      failure.kind === 'missing_scopes'
        ? failure.missing.map((scope) => PERMISSION_DESCRIPTIONS[scope] ?? scope)
        : undefined,
    reference: failure.kind === 'outcome' ? referenceOf(failure.evidence) : undefined,
  });
}

function renderApproval(
  deps: ViewDeps,
  session: ConnectSessionsTable,
  failure: Extract<ConnectFailure, { kind: 'outcome' }>,
  approval: ApprovalHandOff,
): string {
  const remediation = CONNECT_OUTCOME_REMEDIATION[failure.key];
  const lines = permissionLines(sessionProfile(session));
  return approvalPage({
    sessionId: session.id,
    title: remediation.title,
    message: remediation.user,
    clientId: deps.microsoft.clientId,
    adminConsentUrl: approval.adminConsentUrl,
    permissionLines: lines,
    justification: justificationText(deps.microsoft.clientId, lines, approval.adminConsentUrl),
    granted: approval.status === 'granted',
    mailbox: session.login_hint ?? session.expected_email,
    purpose: sessionProfile(session) === 'warmup' ? 'sending mail and warm-up' : 'sending mail',
    backUrl: returnUrlWithResult(session, { status: 'failed', failure }),
    reference: referenceOf(failure.evidence),
  });
}

/** The message a user sends their IT admin: what the app is, what it may do, how to check and approve it. */
export function justificationText(clientId: string, lines: readonly string[], link: string): string {
  return [
    'Hello,',
    '',
    'I would like to connect my work mailbox to an email service we use, and Microsoft asks an administrator of our organisation to approve it first.',
    '',
    `Application (client) ID: ${clientId}`,
    'It asks for these delegated permissions (it acts only as me, on my own mailbox, and only after I sign in):',
    ...lines.map((line) => `- ${line}`),
    '',
    'You can approve it with this link (sign in with an admin account, check the application ID, then accept for the organisation):',
    link,
    '',
    'Or in the Entra admin center: Enterprise applications → Admin consent requests.',
    '',
    'Thank you!',
  ].join('\n');
}

/** Which kinds of Microsoft account this service accepts, from MICROSOFT_TENANT. @see docs/entra.md §1.1 */
export function acceptedAccountKinds(tenant: string): string {
  const kinds =
    'A personal Microsoft account is the one you use for Outlook.com, Hotmail or Live; a work or school account is given to you by your organisation for Microsoft 365.';
  switch (tenant.toLowerCase()) {
    case 'common':
      return `${kinds} This service accepts both, but Microsoft refused this account here; try the other kind of account, or ask your IT admin.`;
    case 'organizations':
      return `${kinds} This service accepts work or school accounts only, not personal Microsoft accounts.`;
    case 'consumers':
      return `${kinds} This service accepts personal Microsoft accounts only, not work or school accounts.`;
    default:
      return `${kinds} This service accepts only work or school accounts of one organisation: personal Microsoft accounts and accounts of other organisations can't connect here.`;
  }
}

function referenceOf(evidence: ErrorEvidence | undefined): ReferenceView | undefined {
  if (!evidence) return undefined;
  const code = evidence.errorCodes[0];
  return {
    code: code !== undefined ? `AADSTS${code}` : (evidence.graphCode ?? evidence.error ?? evidence.networkCode),
    traceId: evidence.traceId,
    correlationId: evidence.correlationId,
    timestamp: evidence.timestamp,
  };
}
