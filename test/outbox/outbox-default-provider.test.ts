import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { classifySmtpFailure } from '../../src/providers/smtp-provider.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { copiesIn, deliveriesOf, type OutboxHarness, SMTP_FROM, startOutboxHarness } from './outbox-test-kit.js';

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: owner preference and the default provider (SMTP relay) [${dialect}]`, () => {
    let h: OutboxHarness;
    let meganAccount: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      meganAccount = await h.connect('megan@contoso.com', { profile: 'send', ownerId: 'megan' });
      await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    it('an owner who chose "Personal Outlook" sends through Microsoft, from their own address', async () => {
      const chosen = await h.client.call('PUT', '/v1/owners/megan/email-provider', { provider: 'microsoft' });
      assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
      const answer = await h.send('/v1/owners/megan/messages', {
        to: 'someone@example.org',
        subject: 'From Megan through Outlook',
        text: 'Hi',
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.equal(answer.body.provider, 'microsoft');
      assert.equal(answer.body.accountId, meganAccount);
      assert.equal(answer.body.from, 'megan@contoso.com');
      await h.drain();
      const row = await h.message(answer.body.id);
      assert.equal(row.status, 'sent');
      const [delivery] = deliveriesOf(h.ctx, row.internet_message_id);
      assert.equal(delivery?.via, 'sendMail');
      assert.equal(delivery?.from, 'megan@contoso.com');
      const outside = h.ctx.world.outside.filter((each) => each.internetMessageId === row.internet_message_id);
      assert.equal(outside.length, 1);
      assert.equal(outside[0]!.from, 'megan@contoso.com');
    });

    it('an unknown owner is 404 OWNER_NOT_FOUND and nothing is queued (a mistyped id never goes to the relay)', async () => {
      const before = await h.service.deps.db.selectFrom('outbox_messages').select('id').execute();
      const answer = await h.send('/v1/owners/nobody-here/messages', { to: 'someone@example.org', text: 'Hi' });
      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'OWNER_NOT_FOUND');
      const after = await h.service.deps.db.selectFrom('outbox_messages').select('id').execute();
      assert.equal(after.length, before.length);
    });

    it('an owner on the default provider (connected or not) sends through the relay, readable in the emulator', async () => {
      // Alex is connected but never chose Personal Outlook; "bob" has no account, only his provider chosen.
      const bob = await h.client.call('PUT', '/v1/owners/bob/email-provider', { provider: 'default' });
      assert.equal(bob.status, 200, JSON.stringify(bob.body));
      for (const owner of ['alex', 'bob']) {
        const answer = await h.send(`/v1/owners/${owner}/messages`, {
          to: ['Candidate <candidate@example.org>', 'megan@contoso.com'],
          bcc: 'audit@example.org',
          replyTo: `${owner}@acme-recruiting.example`,
          subject: `Nudge for ${owner}`,
          text: 'Plain part',
          html: '<p>HTML part</p>',
          headers: { 'X-Owner': owner },
          attachments: [
            { name: 'cv.txt', contentType: 'text/plain', contentBase64: Buffer.from('cv').toString('base64') },
          ],
        });
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        assert.equal(answer.body.provider, 'default');
        assert.equal(answer.body.accountId, null);
        assert.equal(answer.body.ownerId, owner);
        assert.equal(answer.body.from, SMTP_FROM);
        assert.equal(await h.dispatch(), 1);
        const row = await h.message(answer.body.id);
        assert.equal(row.status, 'sent', row.failure_message ?? '');
        assert.equal(row.send_mode, 'smtp');

        // Outside the emulated world: the emulator's outside sink, with our Message-ID and headers.
        const outside = h.ctx.world.outside.filter((each) => each.internetMessageId === row.internet_message_id);
        assert.equal(outside.length, 1);
        assert.equal(outside[0]!.from, 'notifications@acme-mail.example');
        assert.deepEqual(outside[0]!.replyTo, [`${owner}@acme-recruiting.example`]);
        assert.deepEqual(outside[0]!.envelopeTo?.sort(), ['audit@example.org', 'candidate@example.org']);
        assert.ok(
          outside[0]!.headers.some((header) => header.name.toLowerCase() === 'x-owner' && header.value === owner),
        );
        assert.equal(outside[0]!.attachments[0]?.name, 'cv.txt');
        // Inside it: Megan's mailbox.
        const copies = copiesIn(h.ctx, h.emulator.seed.users.work.id, row.internet_message_id);
        assert.equal(copies.length, 1);
        assert.equal(copies[0]!.message.from?.emailAddress.address, 'notifications@acme-mail.example');
        assert.ok(['inbox', 'junkemail'].includes(copies[0]!.folder ?? ''));
        const [delivery] = deliveriesOf(h.ctx, row.internet_message_id);
        assert.equal(delivery?.via, 'smtp');
      }
    });

    it('an owner who chose Personal Outlook but whose account was disconnected falls back to the default provider', async () => {
      await h.client.call('DELETE', `/v1/accounts/${meganAccount}`);
      const answer = await h.send('/v1/owners/megan/messages', { to: 'someone@example.org', text: 'Fallback' });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.equal(answer.body.provider, 'default');
      // The account itself refuses new messages, with its status.
      const refused = await h.send(`/v1/accounts/${meganAccount}/messages`, { to: 'someone@example.org', text: 'No' });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'OUTBOX_ACCOUNT_NOT_SENDABLE');
      assert.equal(refused.body.error.details.status, 'disconnected');
    });
  });
}

describe('SMTP failures: what reached the relay decides retry, failure or unknown outcome', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['4yz answer', { code: 'EENVELOPE', responseCode: 451, response: '451 try later' }, 'temporary'],
    ['5yz answer', { code: 'EMESSAGE', responseCode: 554, response: '554 rejected' }, 'rejected'],
    ['503 is not permanent', { code: 'EPROTOCOL', responseCode: 503, response: '503 bad sequence' }, 'temporary'],
    ['connection refused', { code: 'ESOCKET', originalCode: 'ECONNREFUSED' }, 'not_sent'],
    ['DNS failure', { code: 'EDNS' }, 'not_sent'],
    ['authentication failed', { code: 'EAUTH', responseCode: undefined }, 'not_sent'],
    ['greeting timeout', { code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT' }, 'not_sent'],
    ['socket timeout mid-session', { code: 'ETIMEDOUT', timeoutType: 'SOCKET_TIMEOUT' }, 'unknown'],
    ['connection reset mid-session', { code: 'ECONNECTION', originalCode: 'ECONNRESET' }, 'unknown'],
  ];
  for (const [name, error, kind] of cases) {
    it(name, () => {
      assert.equal(classifySmtpFailure(Object.assign(new Error(name), error)).kind, kind);
    });
  }
});
