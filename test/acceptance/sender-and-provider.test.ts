import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EmulatorContext } from '../../emulator/context.js';
import type { MailMessage } from '../../emulator/state/model.js';
import { waitFor } from '../support/wait.js';
import { AcceptanceWorld, SMTP_FROM } from './support/acceptance-world.js';

/**
 * Issue 4, "Done when" 5, against mailbridge as a separate process: a recipient inside the emulated world sees the
 * user's own address as the sender and the reply-to the host asked for (read from the recipient's mailbox, not
 * from our database); an owner who chose "Personal Outlook" sends through Microsoft, owners who did not (or who
 * never connected anything) through the operator's default provider (the SMTP relay, here the emulator's sink).
 */

/** The copies of a message in a user's mailbox (by Message-ID), with the folder each is in. */
function copiesOf(ctx: EmulatorContext, email: string, internetMessageId: string) {
  const user = Object.values(ctx.world.users).find((each) => each.email === email);
  const mailbox = user ? ctx.world.mailboxes[user.id] : undefined;
  if (!mailbox) return [];
  return Object.values(mailbox.messages)
    .filter((message: MailMessage) => message.internetMessageId === internetMessageId && !message.isDraft)
    .map((message) => ({ message, folder: mailbox.folders[message.parentFolderId]?.wellKnownName ?? null }));
}

interface Accepted {
  id: string;
  provider: string;
  accountId: string | null;
  internetMessageId: string;
}

const RECIPIENT = 'adele@contoso.com';
const REPLY_TO = { address: 'desk@app.example.com', name: 'Recruiting Desk' };

describe('acceptance: sender, reply-to and provider preference (separate service process, SQLite)', () => {
  let world: AcceptanceWorld;
  let meganAccount: string;
  const accepted = new Map<string, Accepted>();

  before(async () => {
    world = await AcceptanceWorld.start({ dialect: 'sqlite' });
    meganAccount = await world.connect('megan@contoso.com', { ownerId: 'recruiter-megan', profile: 'send' });
    // Alex connects a mailbox but keeps the default provider.
    await world.connect('alex@outlook.com', { ownerId: 'recruiter-alex', profile: 'send' });
    const chosen = await world.api('PUT', '/v1/owners/recruiter-megan/email-provider', { provider: 'microsoft' });
    assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
    // An owner with no mailbox exists once the host names it (an unknown owner id is a 404, never the relay).
    const named = await world.api('PUT', '/v1/owners/recruiter-without-mailbox/email-provider', {
      provider: 'default',
    });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    // All three are accepted before any is checked, so they go out in the same worker tick.
    for (const ownerId of ['recruiter-megan', 'recruiter-alex', 'recruiter-without-mailbox']) {
      accepted.set(ownerId, await sendAsOwner(ownerId, `Interview on Tuesday (${ownerId})`));
    }
  });
  after(async () => {
    await world?.close();
  });

  async function sendAsOwner(ownerId: string, subject: string): Promise<Accepted> {
    const answer = await world.api('POST', `/v1/owners/${ownerId}/messages`, {
      to: { address: RECIPIENT, name: 'Adele Vance' },
      replyTo: REPLY_TO,
      subject,
      text: `${subject}: body.`,
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    return answer.body as Accepted;
  }

  async function sentView(id: string) {
    return waitFor(
      `message ${id} sent`,
      async () => {
        const view = await world.api('GET', `/v1/messages/${id}`);
        if (['failed', 'outcome_unknown', 'canceled'].includes(view.body.status)) {
          assert.fail(`message ${id} ended ${view.body.status}: ${JSON.stringify(view.body.failure)}`);
        }
        return view.body.status === 'sent' ? view.body : undefined;
      },
      { timeoutMs: 30_000, describe: () => world.service.tail(10) },
    );
  }

  it('"Personal Outlook" chosen: sent through Microsoft from the user\'s address, reply-to honoured', async () => {
    const viaOutlook = accepted.get('recruiter-megan')!;
    assert.equal(viaOutlook.provider, 'microsoft');
    assert.equal(viaOutlook.accountId, meganAccount);
    await sentView(viaOutlook.id);

    const deliveries = world.ctx.world.deliveries.filter((d) => d.internetMessageId === viaOutlook.internetMessageId);
    assert.equal(deliveries.length, 1, 'one submission in the transport log');
    const delivery = deliveries[0]!;
    assert.notEqual(delivery.via, 'smtp');
    assert.equal(delivery.senderUserId, world.emulator.seed.users.work.id);

    const copies = copiesOf(world.ctx, RECIPIENT, viaOutlook.internetMessageId);
    assert.equal(copies.length, 1, "one copy in the recipient's mailbox");
    const { message, folder } = copies[0]!;
    assert.equal(folder, 'inbox');
    assert.equal(message.from?.emailAddress.address, 'megan@contoso.com');
    assert.equal(message.sender?.emailAddress.address, 'megan@contoso.com');
    assert.deepEqual(
      message.replyTo.map((each) => each.emailAddress.address),
      [REPLY_TO.address],
    );
    assert.equal(message.subject, 'Interview on Tuesday (recruiter-megan)');
  });

  for (const [title, ownerId] of [
    ['an owner who connected Outlook but kept the default provider', 'recruiter-alex'],
    ['an owner the host never connected', 'recruiter-without-mailbox'],
  ] as const) {
    it(`${title}: sent through the default provider (SMTP relay), reply-to honoured`, async () => {
      const sent = accepted.get(ownerId)!;
      assert.equal(sent.provider, 'default');
      assert.equal(sent.accountId, null);
      await sentView(sent.id);

      const deliveries = world.ctx.world.deliveries.filter((d) => d.internetMessageId === sent.internetMessageId);
      assert.equal(deliveries.length, 1);
      assert.equal(deliveries[0]!.via, 'smtp');
      assert.equal(deliveries[0]!.senderUserId, null, 'no Microsoft mailbox sent it');

      const copies = copiesOf(world.ctx, RECIPIENT, sent.internetMessageId);
      assert.equal(copies.length, 1);
      const { message } = copies[0]!;
      assert.equal(message.from?.emailAddress.address, /<([^>]+)>/.exec(SMTP_FROM)?.[1]);
      assert.deepEqual(
        message.replyTo.map((each) => each.emailAddress.address),
        [REPLY_TO.address],
      );
    });
  }
});
