import type { EmailProvider } from '../../owners/owners.js';
import { type Html, html } from '../html.js';
import type { PageNotice, SignedIn } from './accounts-pages.js';
import { csrfField, notice, renderPage } from './layout.js';

export interface CommunicationSettingsModel {
  signedIn: SignedIn;
  provider: EmailProvider;
  /** Addresses of the user's Microsoft accounts that can send now; empty disables "Personal Outlook". */
  sendingAccounts: string[];
  /** The default provider's sender (SMTP_FROM), or undefined when no relay is configured. */
  defaultSender: string | undefined;
  notice?: PageNotice | undefined;
}

export type SettingsSection = 'communication' | 'api-keys' | 'webhooks';

/** The settings pages' tabs. */
export function settingsNav(current: SettingsSection): Html {
  const tab = (section: SettingsSection, label: string) =>
    section === current
      ? html`<a href="/dashboard/settings/${section}" class="subnav-current" aria-current="page" id="settings-${section}">${label}</a>`
      : html`<a href="/dashboard/settings/${section}" id="settings-${section}">${label}</a>`;
  return html`<nav class="subnav" aria-label="Settings">${tab('communication', 'Communication')}${tab('api-keys', 'API keys')}${tab('webhooks', 'Webhooks')}</nav>`;
}

/** Settings → Communication: preferred channel (Email) and email provider (Personal Outlook or the default). */
export function renderCommunicationSettingsPage(model: CommunicationSettingsModel): string {
  const { signedIn } = model;
  const outlookAvailable = model.sendingAccounts.length > 0;
  const provider = model.provider === 'microsoft' && outlookAvailable ? 'microsoft' : 'default';
  return renderPage(
    { title: 'Settings · Communication', signedIn, current: 'settings' },
    html`${model.notice && notice(html`<strong>${model.notice.text}</strong>${model.notice.detail && html`<br>${model.notice.detail}`}`, model.notice.kind, 'settings-notice')}
<div class="card">
  <h1>Settings</h1>
  ${settingsNav('communication')}
  <form method="post" action="/dashboard/settings/communication" id="communication-settings">
    ${csrfField(signedIn.csrfToken)}
    <fieldset>
      <legend>Preferred channel</legend>
      <label class="choice"><input type="radio" name="channel" value="email" id="channel-email" checked> Email</label>
      <p class="muted">Messages sent for you (nudges, follow-ups) go out as email. Email is the one channel mailbridge delivers.</p>
    </fieldset>
    <fieldset>
      <legend>Email provider</legend>
      <label class="choice${outlookAvailable ? '' : ' disabled'}"><input type="radio" name="provider" value="microsoft" id="provider-personal-outlook"${provider === 'microsoft' ? html` checked` : ''}${outlookAvailable ? '' : html` disabled aria-describedby="personal-outlook-unavailable"`}> Personal Outlook${outlookAvailable && html` <span class="muted">(${model.sendingAccounts.join(', ')})</span>`}</label>
      ${
        outlookAvailable
          ? html`<p class="muted">Messages go out from your own mailbox through Microsoft: recipients see you, and replies come to your inbox.</p>`
          : html`<p class="muted" id="personal-outlook-unavailable">Available once a Microsoft account is connected: <a href="/dashboard/accounts/new">Add email account</a> first.</p>`
      }
      <label class="choice"><input type="radio" name="provider" value="default" id="provider-default"${provider === 'default' ? html` checked` : ''}> Default provider${model.defaultSender && html` <span class="muted">(${model.defaultSender})</span>`}</label>
      <p class="muted">${
        model.defaultSender
          ? 'Messages go out through the operator’s mail relay, from its sender address.'
          : 'No mail relay is configured on this server (SMTP_URL), so the default provider cannot send until the operator sets one.'
      }</p>
    </fieldset>
    <div class="actions"><button type="submit" id="save-communication">Save</button></div>
  </form>
</div>`,
  );
}
