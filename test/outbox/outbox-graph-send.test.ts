import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TEST_DIALECTS } from '../support/databases.js';
import { copiesIn, deliveriesOf, eventsOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

for (const dialect of TEST_DIALECTS) {
  describe(`outbox: sending through Microsoft Graph [${dialect}]`, () => {
    let h: OutboxHarness;
    let meganAccount: string;
    let alexAccount: string;

    before(async () => {
      h = await startOutboxHarness(dialect);
      // Megan connects with the warmup profile (Mail.ReadWrite: drafts), Alex with send only (sendMail).
      meganAccount = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alexAccount = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    it('sends from a Mail.ReadWrite account through a draft: the recipient sees the user as sender, reply-to honoured', async () => {
      const accepted = await h.send(`/v1/accounts/${meganAccount}/messages`, {
        to: ['Alex Wilber <alex@outlook.com>'],
        replyTo: [{ address: 'replies@acme-recruiting.example', name: 'Acme Replies' }],
        subject: 'Quick question about the role',
        html: '<p>Hi Alex, do you have a minute?</p>',
        headers: { 'X-Campaign': 'nudge-1' },
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.equal(accepted.body.status, 'queued');
      const id = accepted.body.id as string;
      const internetMessageId = accepted.body.internetMessageId as string;
      assert.match(internetMessageId, /^<mb\.msg_[0-9a-z]{26}@127\.0\.0\.1>$/);

      assert.equal(await h.dispatch(), 1);
      const view = await h.client.call('GET', `/v1/messages/${id}`);
      assert.equal(view.body.status, 'sent', JSON.stringify(view.body));
      assert.equal(view.body.attempts.length, 1);
      assert.equal(view.body.attempts[0].outcome, 'accepted');
      assert.equal(view.body.attempts[0].step, 'sendDraft');
      assert.equal(view.body.attempts[0].httpStatus, 202);
      assert.ok(view.body.attempts[0].requestId, 'the attempt log keeps Graph request-id');

      const deliveries = deliveriesOf(h.ctx, internetMessageId);
      assert.equal(deliveries.length, 1);
      assert.equal(deliveries[0]!.via, 'draftSend');
      assert.equal(deliveries[0]!.from, 'megan@contoso.com');
      assert.deepEqual(deliveries[0]!.replyTo, ['replies@acme-recruiting.example']);
      const copies = copiesIn(h.ctx, h.emulator.seed.users.personal.id, internetMessageId);
      assert.equal(copies.length, 1);
      const received = copies[0]!.message;
      assert.equal(received.from?.emailAddress.address, 'megan@contoso.com');
      assert.equal(received.replyTo[0]?.emailAddress.address, 'replies@acme-recruiting.example');
      assert.equal(received.subject, 'Quick question about the role');
      // The sender keeps a copy in Sent Items, under our Message-ID.
      const sent = copiesIn(h.ctx, h.emulator.seed.users.work.id, internetMessageId);
      assert.deepEqual(
        sent.map((each) => each.folder),
        ['sentitems'],
      );
      const events = await eventsOf(h, id);
      assert.deepEqual(
        events.map((event) => event.type),
        ['message.sent'],
      );
      const metric = await h.service.deps.metrics.registry.getSingleMetricAsString('mailbridge_outbox_sends_total');
      assert.match(metric, /mailbridge_outbox_sends_total\{outcome="sent"\} 1/);
    });

    it('attaches large files through an upload session on the draft (Mail.ReadWrite)', async () => {
      const big = Buffer.alloc(5 * 1024 * 1024, 1);
      const medium = Buffer.alloc(2 * 1024 * 1024, 2);
      const accepted = await h.send(`/v1/accounts/${meganAccount}/messages`, {
        to: 'alex@outlook.com',
        subject: 'Files',
        text: 'Attached.',
        attachments: [
          { name: 'big.bin', contentType: 'application/octet-stream', contentBase64: big.toString('base64') },
          { name: 'medium.bin', contentType: 'application/octet-stream', contentBase64: medium.toString('base64') },
        ],
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body).slice(0, 300));
      const logFrom = h.ctx.nextRequestSeq;
      assert.equal(await h.dispatch(), 1);
      const row = await h.message(accepted.body.id);
      assert.equal(row.status, 'sent', row.failure_message ?? '');
      // The chunks went to the uploadUrl on outlook.office.com (routed to the emulator like Graph), and without the
      // Graph token: the emulator refuses a PUT carrying Authorization with 401, as Outlook does (docs/graph.md §3.1).
      const uploads = h.ctx.requestLog.filter((entry) => entry.seq >= logFrom && entry.method === 'PUT');
      assert.ok(uploads.length >= 2, `chunks sent: ${uploads.length}`);
      for (const upload of uploads) {
        assert.match(upload.path, /^\/api\/gv1\.0\/users\(.*AttachmentSessions\(.*authtoken=%5Bredacted%5D$/);
        assert.ok([200, 201].includes(upload.status), `upload answered ${upload.status} (${upload.note})`);
      }
      const [copy] = copiesIn(h.ctx, h.emulator.seed.users.personal.id, row.internet_message_id);
      assert.ok(copy);
      assert.deepEqual(
        copy.message.attachments.map((each) => [each.name, each.size]),
        [
          ['big.bin', big.byteLength],
          ['medium.bin', medium.byteLength],
        ],
      );
      assert.ok(Buffer.from(copy.message.attachments[0]!.contentBytes, 'base64').equals(big));
      // Once sent, the outbox keeps what the files were, not their bytes.
      const stored = await h.service.deps.db
        .selectFrom('outbox_attachments')
        .select(['name', 'content_base64'])
        .where('message_id', '=', row.id)
        .execute();
      assert.deepEqual(
        stored.map((each) => [each.name, each.content_base64]),
        [
          ['big.bin', ''],
          ['medium.bin', ''],
        ],
      );
      const view = await h.client.call('GET', `/v1/messages/${row.id}`);
      assert.equal(view.body.attachments[0].sizeBytes, big.byteLength);
    });

    it('sends from a send-only account with sendMail', async () => {
      const accepted = await h.send(`/v1/accounts/${alexAccount}/messages`, {
        to: 'megan@contoso.com',
        subject: 'Hello from Alex',
        text: 'Plain text body',
        attachments: [
          { name: 'note.txt', contentType: 'text/plain', contentBase64: Buffer.from('hi').toString('base64') },
        ],
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.equal(await h.dispatch(), 1);
      const row = await h.message(accepted.body.id);
      assert.equal(row.status, 'sent');
      assert.equal(row.send_mode, 'sendMail');
      const deliveries = deliveriesOf(h.ctx, row.internet_message_id);
      assert.equal(deliveries.length, 1);
      assert.equal(deliveries[0]!.via, 'sendMail');
      assert.equal(deliveries[0]!.from, 'alex@outlook.com');
      const copies = copiesIn(h.ctx, h.emulator.seed.users.work.id, row.internet_message_id);
      assert.equal(copies.length, 1);
      assert.equal(copies[0]!.message.attachments[0]?.name, 'note.txt');
    });
  });
}
