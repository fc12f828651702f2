import { html } from '../html.js';
import type { SignedIn } from './accounts-pages.js';
import { formatTime, notice, renderPage } from './layout.js';
import type { OutsideMail } from './outside-mail.js';

export interface OutsideMailPageModel {
  signedIn: SignedIn;
  mail: OutsideMail[];
  /** The emulator did not answer: said instead of the list. */
  unavailable?: boolean;
}

/** Messages → Left the emulated world: the organisation's mail in the emulator's outside sink, newest first. */
export function renderOutsideMailPage(model: OutsideMailPageModel): string {
  const rows = model.mail.map(
    (mail) => html`<tr data-message-id="${mail.messageId}">
  <td>${formatTime(mail.at)}</td>
  <td>${mail.from}</td>
  <td class="recipients">${mail.to.join(', ')}</td>
  <td><a href="/dashboard/messages/${mail.messageId}" class="message-subject">${mail.subject || '(no subject)'}</a><br><span class="muted">${mail.preview}</span></td>
</tr>`,
  );
  return renderPage(
    { title: 'Mail that left the emulated world', signedIn: model.signedIn, current: 'messages' },
    html`<div class="card">
  <h1>Mail that left the emulated world</h1>
  <p class="muted">This server runs on the built-in Microsoft emulator: mail to addresses outside its demo domains is kept here, in its outside sink, and never delivered. Mail to the demo users lands in their emulated mailboxes instead.</p>
  ${
    model.unavailable
      ? notice('The emulator did not answer; try again in a moment.', 'error', 'outside-mail-unavailable')
      : model.mail.length === 0
        ? html`<p id="no-outside-mail">No mail has left the emulated world yet.</p>`
        : html`<table id="outside-mail">
  <thead><tr><th>Left at</th><th>From</th><th>To</th><th>Subject</th></tr></thead>
  <tbody>${rows}</tbody>
</table>`
  }
  <p><a href="/dashboard/messages">Back to messages</a></p>
</div>`,
  );
}
