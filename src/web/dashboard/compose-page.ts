import type { AccountStatus } from '../../db/tables/accounts.js';
import { type Html, html } from '../html.js';
import { type SignedIn, statusLabel } from './accounts-pages.js';
import { type ComposeField, type ComposeFields, FROM_PREFERRED, formName, fromAccount } from './compose-form.js';
import { csrfField, notice, renderPage } from './layout.js';

/** One of the signed-in user's mailboxes, as a "send from" choice. */
export interface ComposeAccount {
  id: string;
  email: string;
  status: AccountStatus;
  /** Messages from it wait (held) until the user reconnects or an IT admin approves. */
  holds: boolean;
  /** It cannot send at all (disconnected, unusable mailbox): shown, not selectable. */
  refuses: boolean;
}

/** Where "your preferred provider" sends from, as the outbox would decide it now. */
export type PreferredProvider =
  | { kind: 'microsoft'; email: string }
  /** `chose`: the user chose Personal Outlook but none of their Microsoft accounts can send, so it falls back. */
  | { kind: 'default'; sender: string; choseOutlook: boolean }
  | { kind: 'unavailable'; text: string };

export interface ComposeModel {
  signedIn: SignedIn;
  accounts: ComposeAccount[];
  preferred: PreferredProvider;
  values: ComposeFields;
  error?: { text: string; field: ComposeField | undefined; earlierMessageId?: string | undefined } | undefined;
}

function describePreferred(preferred: PreferredProvider): Html {
  switch (preferred.kind) {
    case 'microsoft':
      return html`<strong>Personal Outlook</strong>: from <span class="mono">${preferred.email}</span> through Microsoft, as you chose in <a href="/dashboard/settings/communication">Settings → Communication</a>.`;
    case 'default':
      return html`<strong>Default provider</strong>: from <span class="mono">${preferred.sender}</span> through the operator’s mail relay${
        preferred.choseOutlook
          ? html` (you chose Personal Outlook, but none of your Microsoft accounts can send right now)`
          : html` (your email provider in <a href="/dashboard/settings/communication">Settings → Communication</a>)`
      }.`;
    case 'unavailable':
      return html`${preferred.text}`;
  }
}

function accountNote(account: ComposeAccount): string {
  if (account.refuses) return `${statusLabel(account.status)}: cannot send`;
  if (account.holds) return `${statusLabel(account.status)}: the message waits until this is fixed`;
  return statusLabel(account.status);
}

/** The compose form. Every box keeps what was typed when the form comes back with an error. */
export function renderComposePage(model: ComposeModel): string {
  const { signedIn, values, error } = model;
  const preferredUsable = model.preferred.kind !== 'unavailable';
  const fieldError = (field: ComposeField): Html | false =>
    error?.field === field && html`<p class="field-error" id="compose-${field}-error">${error.text}</p>`;
  const invalid = (field: ComposeField): Html | string =>
    error?.field === field ? html` aria-invalid="true" aria-describedby="compose-${field}-error"` : '';
  const input = (field: 'to' | 'cc' | 'bcc' | 'replyTo' | 'subject', label: string, hint?: string) =>
    html`<label for="compose-${field}">${label}</label>
    ${hint && html`<p class="hint">${hint}</p>`}
    <input type="text" id="compose-${field}" name="${formName(field)}" value="${values[field]}"${invalid(field)}>
    ${fieldError(field)}`;
  const fromChoice = (value: string, id: string, label: Html, disabled: boolean) =>
    html`<label class="choice${disabled ? ' disabled' : ''}"><input type="radio" name="${formName('from')}" value="${value}" id="${id}"${values.from === value && !disabled ? html` checked` : ''}${disabled ? html` disabled` : ''}> ${label}</label>`;

  return renderPage(
    { title: 'New message', signedIn, current: 'messages' },
    html`<p><a href="/dashboard/messages">← Messages</a></p>
${
  error &&
  notice(
    html`<strong>Not sent.</strong> ${error.text}${
      error.earlierMessageId &&
      html` <a href="/dashboard/messages/${error.earlierMessageId}" id="earlier-message">See the message it sent.</a>`
    }`,
    'error',
    'compose-error',
  )
}
<div class="card">
  <h1>Send a test email</h1>
  <form method="post" action="/dashboard/messages/new" id="compose">
    ${csrfField(signedIn.csrfToken)}
    <input type="hidden" name="${formName('formKey')}" value="${values.formKey}">
    <fieldset${invalid('from')}>
      <legend>Send from</legend>
      ${model.accounts.map((account) =>
        fromChoice(
          fromAccount(account.id),
          `from-account-${account.id}`,
          html`<span class="mono">${account.email}</span> <span class="muted">(${accountNote(account)})</span>`,
          account.refuses,
        ),
      )}
      ${model.accounts.length === 0 && html`<p class="muted" id="no-own-accounts">You have no email account of your own yet: <a href="/dashboard/accounts/new">Add email account</a> to send from your mailbox.</p>`}
      ${fromChoice(FROM_PREFERRED, 'from-preferred', html`Your preferred provider`, !preferredUsable)}
      <p class="hint" id="preferred-provider" data-provider="${model.preferred.kind}">${describePreferred(model.preferred)}</p>
      ${fieldError('from')}
    </fieldset>
    ${input('to', 'To', 'Separate addresses with commas. Name <address@example.com> works too.')}
    ${input('cc', 'Cc')}
    ${input('bcc', 'Bcc')}
    ${input('replyTo', 'Reply-to', 'Where replies go, if not to the sender.')}
    ${input('subject', 'Subject')}
    <label for="compose-text">Text</label>
    <textarea id="compose-text" name="${formName('text')}" rows="8"${invalid('text')}>
${values.text}</textarea>
    ${fieldError('text')}
    <details${values.html !== '' || error?.field === 'html' ? html` open` : ''}>
      <summary>HTML body (optional)</summary>
      <p class="hint">Microsoft sends one body: the HTML when you give both (the default provider sends both).</p>
      <label for="compose-html">HTML</label>
      <textarea id="compose-html" name="${formName('html')}" rows="6"${invalid('html')}>
${values.html}</textarea>
      ${fieldError('html')}
    </details>
    <label for="compose-sendAt">Send at (UTC, optional)</label>
    <p class="hint">Leave empty to send now.</p>
    <input type="datetime-local" id="compose-sendAt" name="${formName('sendAt')}" value="${values.sendAt}"${invalid('sendAt')}>
    ${fieldError('sendAt')}
    <div class="actions"><button type="submit" id="send">Send</button></div>
  </form>
</div>`,
  );
}
