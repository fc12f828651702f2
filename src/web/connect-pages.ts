import type { AdminConsentProblem } from '../connect/admin-approval.js';
import { type Html, html } from './html.js';
import { renderPublicPage } from './page-layout.js';

/**
 * The hosted connect pages (`/connect/…`): what the end user of a host app sees while connecting a Microsoft
 * mailbox, and what their IT admin sees after approving. Plain words, one primary action each, everything escaped
 * (`html`), no inline script or style. Stable element ids for tests and for people writing support docs:
 *
 * - provider choice: `#provider-microsoft` (submits `#start-form`), `#permissions`, `#back-to-app`
 * - every outcome: `#outcome` (with `data-status` = the return URL's `status`), `#outcome-title`, `#outcome-message`
 * - connected: `#connected-email`, `#continue` (to the return URL) or `#close-tab`
 * - failures: `#try-again` (button of `#try-again-form`), `#back-to-app`, `#reference` (Microsoft's code and ids),
 *   `#operator-told` (misconfigured), `#account-kinds` (wrong kind of account), `#missing-permissions`
 * - approval required: `#client-id`, `#admin-consent-link`, `#admin-consent-url`, `#justification`,
 *   `#approval-status` (`data-approval` = `pending` | `granted`), `#check-again`, and once approved
 *   `#admin-approved` + `#finish-connecting`
 * - problems (`#connect-problem`, `data-problem`): session not found / expired / finished, state missing, unknown or
 *   used, another browser, Microsoft unreachable, an error on our side
 * - admin-consent callback: `#admin-approved` with `#approved-tenant`, or `#admin-consent-error`
 */

const PROVIDER_NAME = 'Microsoft Outlook / Hotmail / Microsoft 365';

export interface ProviderChoiceView {
  sessionId: string;
  permissionLines: string[];
  loginHint: string | null;
  backUrl: string | null;
}

export function providerChoicePage(view: ProviderChoiceView): string {
  return renderPublicPage(
    { title: 'Connect your email account', narrow: true, pageId: 'connect-provider' },
    html`<section class="card" id="connect-provider">
<h1>Connect your email account</h1>
<p>Choose where your mailbox is. You sign in at your provider; this service never sees your password.</p>
<div class="choices">
<form method="post" action="/connect/${view.sessionId}/start" id="start-form">
<button type="submit" id="provider-microsoft">${PROVIDER_NAME}</button>
</form>
</div>
<p class="muted">Outlook.com, Hotmail and Live addresses, and work or school accounts on Microsoft 365.
${view.loginHint ? html`You'll sign in as <strong id="login-hint">${view.loginHint}</strong>.` : ''}</p>
<h2>What this service will be able to do</h2>
<ul id="permissions">${view.permissionLines.map((line) => html`<li>${line}</li>`)}</ul>
<p class="muted">Microsoft shows you the same list and asks you to accept it. You can remove the access at any time.</p>
${view.backUrl ? html`<div class="actions"><a class="button secondary" id="back-to-app" href="${view.backUrl}">Cancel and go back</a></div>` : ''}
</section>`,
  );
}

export interface ConnectedView {
  status: 'connected' | 'reconnected';
  email: string;
  continueUrl: string | null;
}

export function connectedPage(view: ConnectedView): string {
  const title = view.status === 'reconnected' ? 'Reconnected' : 'Connected';
  return renderPublicPage(
    { title, narrow: true, pageId: 'connect-outcome' },
    html`<section class="card" id="outcome" data-status="${view.status}">
<h1 id="outcome-title">${title}</h1>
<p id="outcome-message">${view.status === 'reconnected' ? 'Reconnected' : 'Connected'} as <strong id="connected-email">${view.email}</strong>. Your mailbox is ready to use.</p>
${
  view.continueUrl
    ? html`<div class="actions"><a class="button" id="continue" href="${view.continueUrl}">Continue</a></div>`
    : html`<p id="close-tab">You can close this tab now.</p>`
}
</section>`,
  );
}

export interface FailureView {
  /** The return URL's `status` (`cancelled`, `declined`, `missing_scopes`…). */
  status: string;
  title: string;
  message: string;
  sessionId: string;
  /** Offer "Try again" (a new sign-in for the same session). */
  canRetry: boolean;
  backUrl: string | null;
  operatorTold?: boolean;
  /** For `wrong_account_type`: which kinds of Microsoft account this service accepts. */
  accountKinds?: string | undefined;
  missingPermissions?: string[] | undefined;
  /** Microsoft's code and ids, for a support ticket. */
  reference?: ReferenceView | undefined;
}

export interface ReferenceView {
  code?: string | undefined;
  traceId?: string | undefined;
  correlationId?: string | undefined;
  timestamp?: string | undefined;
}

export function failurePage(view: FailureView): string {
  return renderPublicPage(
    { title: view.title, narrow: true, pageId: 'connect-outcome' },
    html`<section class="card" id="outcome" data-status="${view.status}">
<h1 id="outcome-title">${view.title}</h1>
<p id="outcome-message">${view.message}</p>
${view.operatorTold ? html`<p class="notice" id="operator-told">This service is misconfigured; its operator has been told. Nothing is wrong with your account, and there is nothing you need to do.</p>` : ''}
${view.accountKinds ? html`<p id="account-kinds">${view.accountKinds}</p>` : ''}
${
  view.missingPermissions && view.missingPermissions.length > 0
    ? html`<p>Not given:</p><ul id="missing-permissions">${view.missingPermissions.map((line) => html`<li>${line}</li>`)}</ul>`
    : ''
}
<div class="actions">
${
  view.canRetry
    ? html`<form method="post" action="/connect/${view.sessionId}/start" id="try-again-form"><button type="submit" id="try-again">Try again</button></form>`
    : ''
}
${view.backUrl ? html`<a class="button secondary" id="back-to-app" href="${view.backUrl}">Back to the app</a>` : ''}
</div>
${referenceBlock(view.reference)}
</section>`,
  );
}

function referenceBlock(reference: ReferenceView | undefined): Html | string {
  if (!reference || !(reference.code || reference.traceId || reference.correlationId)) return '';
  return html`<p class="muted" id="reference">Reference for support:
${reference.code ? html`Microsoft error <span class="mono">${reference.code}</span>` : ''}
${reference.traceId ? html`· trace ID <span class="mono">${reference.traceId}</span>` : ''}
${reference.correlationId ? html`· correlation ID <span class="mono">${reference.correlationId}</span>` : ''}
${reference.timestamp ? html`· ${reference.timestamp}` : ''}</p>`;
}

export interface ApprovalView {
  sessionId: string;
  title: string;
  message: string;
  clientId: string;
  adminConsentUrl: string;
  permissionLines: string[];
  justification: string;
  granted: boolean;
  /** The mailbox waiting, when the host named it (login hint or expected email); null when nobody told us. */
  mailbox: string | null;
  /** What the connection is for, in plain words (the permission profile). */
  purpose: string;
  backUrl: string | null;
  reference?: ReferenceView | undefined;
}

export function approvalPage(view: ApprovalView): string {
  const waiting = html`<p id="approval-subject">${
    view.mailbox ? html`Mailbox <strong id="approval-mailbox">${view.mailbox}</strong>, ` : ''
  }for ${view.purpose}.</p>`;
  // Once approved, only what is true now: the approval and the one click; the hand-off to the admin is spent.
  if (view.granted) {
    return renderPublicPage(
      { title: 'Approved', pageId: 'connect-approval' },
      html`<section class="card" id="outcome" data-status="approval_required">
<h1 id="outcome-title">Your IT admin approved</h1>
${waiting}
<div class="notice" id="admin-approved" role="status">
<p><strong>Finish connecting.</strong> Microsoft will not ask for approval again.</p>
<form method="post" action="/connect/${view.sessionId}/start" id="finish-form"><button type="submit" id="finish-connecting">Finish connecting</button></form>
</div>
<p id="approval-status" data-approval="granted">Approved by your organisation.</p>
</section>
${view.backUrl ? html`<div class="actions"><a class="button secondary" id="back-to-app" href="${view.backUrl}">Back to the app</a></div>` : ''}`,
    );
  }
  return renderPublicPage(
    { title: view.title, pageId: 'connect-approval' },
    html`<section class="card" id="outcome" data-status="approval_required">
<h1 id="outcome-title">${view.title}</h1>
${waiting}
<p id="outcome-message">${view.message}</p>
<p id="approval-status" data-approval="pending">Not approved yet. Once your IT admin approves, come back here: <a id="check-again" href="/connect/${view.sessionId}">check again</a>.</p>
</section>
<section class="card" id="admin-hand-off">
<h2>What to send your IT admin</h2>
<dl class="facts">
<dt>Application (client) ID</dt><dd><code id="client-id">${view.clientId}</code></dd>
<dt>Permissions</dt><dd><ul id="approval-permissions">${view.permissionLines.map((line) => html`<li>${line}</li>`)}</ul></dd>
</dl>
<p>Approval link (your admin opens it, signs in with an admin account, checks the application ID and accepts for the organisation):</p>
<p><a id="admin-consent-link" href="${view.adminConsentUrl}" rel="noreferrer">Approve this service for your organisation</a></p>
<label for="admin-consent-url">The link, to copy</label>
<input type="text" id="admin-consent-url" readonly value="${view.adminConsentUrl}">
<label for="justification">A message you can send with it</label>
<textarea id="justification" readonly>${view.justification}</textarea>
<p class="muted">Your admin can also approve in the Entra admin center → Enterprise applications → Admin consent requests, after checking the application (client) ID above.</p>
</section>
${view.backUrl ? html`<div class="actions"><a class="button secondary" id="back-to-app" href="${view.backUrl}">Back to the app</a></div>` : ''}
${referenceBlock(view.reference)}`,
  );
}

export type ConnectProblem =
  | 'session_not_found'
  | 'session_expired'
  | 'session_finished'
  | 'state_missing'
  | 'state_unknown'
  | 'state_used'
  | 'browser_mismatch'
  | 'microsoft_unavailable'
  | 'internal_error';

const PROBLEMS: Readonly<Record<ConnectProblem, { title: string; message: string }>> = {
  session_not_found: {
    title: 'Link not valid',
    message: "This connection link isn't valid. Start again from the app you came from.",
  },
  session_expired: {
    title: 'Link expired',
    message: 'This connection link has expired (links work for 30 minutes). Start again from the app you came from.',
  },
  session_finished: {
    title: 'Link already used',
    message: 'This connection link was already used. To connect a mailbox again, start again from the app.',
  },
  state_missing: {
    title: 'Sign-in answer incomplete',
    message: "Microsoft's answer arrived without what we need to match it to your sign-in. Start again from the app.",
  },
  state_unknown: {
    title: 'Sign-in not recognised',
    message:
      "This sign-in answer doesn't match a sign-in we started (it may be from an older attempt). Start again from the app.",
  },
  state_used: {
    title: 'Sign-in already used',
    message: 'This sign-in answer was already used, so it cannot be used again.',
  },
  browser_mismatch: {
    title: 'Start again from the app',
    message:
      'This sign-in was started in another browser (or your browser blocked our cookie), so we did not connect anything. Start again from the app, in this browser.',
  },
  microsoft_unavailable: {
    title: "Can't reach Microsoft",
    message: "We couldn't reach Microsoft's sign-in service just now. Please try again in a minute.",
  },
  internal_error: {
    title: 'Something went wrong',
    message:
      'Something went wrong on our side, and nothing was connected. Please try again in a minute; if it keeps happening, contact support.',
  },
};

export function problemPage(
  problem: ConnectProblem,
  options: { backUrl?: string | null; retryUrl?: string } = {},
): string {
  const text = PROBLEMS[problem];
  return renderPublicPage(
    { title: text.title, narrow: true, pageId: 'connect-problem' },
    html`<section class="card" id="connect-problem" data-problem="${problem}">
<h1 id="outcome-title">${text.title}</h1>
<p id="outcome-message">${text.message}</p>
<div class="actions">
${options.retryUrl ? html`<a class="button" id="try-again" href="${options.retryUrl}">Try again</a>` : ''}
${options.backUrl ? html`<a class="button secondary" id="back-to-app" href="${options.backUrl}">Back to the app</a>` : ''}
</div>
</section>`,
  );
}

export type AdminConsentResultView =
  | { kind: 'granted'; tenantId: string }
  | { kind: 'error'; problem: AdminConsentProblem; code: number | undefined; description: string | undefined }
  | { kind: 'unknown_link' }
  | { kind: 'expired_link' };

const ADMIN_CONSENT_PROBLEM_TEXT: Readonly<Record<AdminConsentProblem, string>> = {
  not_an_admin:
    "The account that signed in isn't allowed to approve apps for the organisation. Open the link again and sign in with an admin account (Global Administrator, Privileged Role Administrator, Cloud Application Administrator or Application Administrator).",
  // AADSTS50020/500208: a guest, another organisation's or a personal account. Accepting again cannot help.
  wrong_account:
    "The account that signed in doesn't belong to the organisation that must approve (it is a personal account, a guest or another organisation's account), so nothing changed. Open the link again, choose \"Use another account\" and sign in with an admin account of the user's own organisation.",
  declined:
    'The approval was declined or cancelled, so nothing changed. You can open the approval link again and accept for the organisation.',
  other:
    "Microsoft didn't confirm the approval, so nothing changed. You can open the approval link again and accept for the organisation.",
};

export function adminConsentResultPage(view: AdminConsentResultView): string {
  switch (view.kind) {
    case 'granted':
      return renderPublicPage(
        { title: 'Approved', narrow: true, pageId: 'admin-consent-result' },
        html`<section class="card" id="admin-approved">
<h1 id="outcome-title">Approved</h1>
<p id="outcome-message">Approved. Users of your organisation (tenant <code id="approved-tenant">${view.tenantId}</code>) can now connect their mailboxes to this service. The person who asked you can finish connecting in one click. You can close this tab.</p>
<p class="muted">To withdraw the approval later: Entra admin center → Enterprise applications → this application → Permissions.</p>
</section>`,
      );
    case 'error':
      return renderPublicPage(
        { title: 'Approval not recorded', narrow: true, pageId: 'admin-consent-result' },
        html`<section class="card" id="admin-consent-error" data-code="${view.code === undefined ? '' : String(view.code)}">
<h1 id="outcome-title">Approval not given</h1>
<p id="outcome-message">${ADMIN_CONSENT_PROBLEM_TEXT[view.problem]}</p>
${view.code !== undefined ? html`<p class="muted" id="reference">Microsoft error <span class="mono">AADSTS${String(view.code)}</span>${view.description ? html`: ${view.description}` : ''}</p>` : ''}
</section>`,
      );
    case 'unknown_link':
      return renderPublicPage(
        { title: 'Link not recognised', narrow: true, pageId: 'admin-consent-result' },
        html`<section class="card" id="admin-consent-error" data-code="unknown_link">
<h1 id="outcome-title">Link not recognised</h1>
<p id="outcome-message">This approval link isn't one we issued (or it was removed). If you approved at Microsoft, the approval is in effect there; the person who asked you can simply try connecting again.</p>
</section>`,
      );
    case 'expired_link':
      return renderPublicPage(
        { title: 'Link expired', narrow: true, pageId: 'admin-consent-result' },
        html`<section class="card" id="admin-consent-error" data-code="expired_link">
<h1 id="outcome-title">Link expired</h1>
<p id="outcome-message">This approval link has expired. If you approved at Microsoft, the approval is in effect there; the person who asked you can simply try connecting again.</p>
</section>`,
      );
  }
}
