import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEMO_IDS } from '../../emulator/seed.js';
import type { MailMessage, User } from '../../emulator/state/model.js';
import { findFolder } from '../../emulator/state/world.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

// Inspection routes: mailboxes, the outside sink, the delivery log, usage and the request log. Mail is put into the
// world the way the Graph delivery code stores it, so that these routes are tested independently of Graph.

interface ErrorBody {
  error: { code: string; message: string };
}
type MessageBody = MailMessage & { folder: string | null };

describe('emulator control API: inspection', () => {
  let emulator: SeededEmulator;

  async function call<T>(method: string, path: string): Promise<{ status: number; body: T }> {
    const response = await fetch(`${emulator.url}/_emulator${path}`, { method });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function expectError(path: string, status: number, code: string) {
    const response = await call<ErrorBody>('GET', path);
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.body.error.code, code);
  }

  function deliver(user: User, folderName: string, fields: Partial<MailMessage> & { internetMessageId: string }) {
    const mailbox = emulator.ctx.world.mailboxes[user.id]!;
    const folder = findFolder(mailbox, folderName)!;
    const id = `AAMk-${fields.internetMessageId}`;
    const at = new Date(emulator.ctx.clock.now()).toISOString();
    const message: MailMessage = {
      id,
      immutableId: `imm-${id}`,
      parentFolderId: folder.id,
      conversationId: 'conv-1',
      subject: 'Hello',
      body: { contentType: 'text', content: 'Hi there' },
      bodyPreview: 'Hi there',
      from: { emailAddress: { address: 'alex@outlook.com', name: 'Alex Wilber' } },
      sender: { emailAddress: { address: 'alex@outlook.com', name: 'Alex Wilber' } },
      toRecipients: [{ emailAddress: { address: user.email } }],
      ccRecipients: [],
      bccRecipients: [],
      replyTo: [],
      internetMessageHeaders: [],
      attachments: [],
      isDraft: false,
      isRead: false,
      importance: 'normal',
      flag: { flagStatus: 'notFlagged' },
      categories: [],
      inferenceClassification: 'focused',
      createdDateTime: at,
      lastModifiedDateTime: at,
      receivedDateTime: at,
      sentDateTime: at,
      changeKey: 'ck',
      inReplyTo: null,
      ...fields,
    };
    mailbox.messages[id] = message;
    return message;
  }

  before(async () => {
    emulator = await startSeededEmulator();
    const megan = emulator.seed.users.work;
    deliver(megan, 'inbox', { internetMessageId: '<m1@outlook.com>', subject: 'Quarterly numbers', isRead: true });
    emulator.ctx.clock.advance(60);
    deliver(megan, 'inbox', {
      internetMessageId: '<m2@outlook.com>',
      subject: 'Photos',
      attachments: [
        {
          id: 'att1',
          '@odata.type': '#microsoft.graph.fileAttachment',
          name: 'photo.jpg',
          contentType: 'image/jpeg',
          size: 4,
          isInline: false,
          contentBytes: 'AAECAw==',
          lastModifiedDateTime: new Date(emulator.ctx.clock.now()).toISOString(),
        },
      ],
    });
    deliver(megan, 'junkemail', {
      internetMessageId: '<m3@outlook.com>',
      subject: 'Cheap watches',
      from: { emailAddress: { address: 'spam@elsewhere.example' } },
    });
  });
  after(() => emulator.close());

  describe('mailboxes', () => {
    it('shows the folders with their counts', async () => {
      const mailbox = await call<{
        email: string;
        folders: Array<{ wellKnownName: string; totalItemCount: number; unreadItemCount: number }>;
        messageCount: number;
      }>('GET', '/mailboxes/megan@contoso.com');
      assert.equal(mailbox.status, 200);
      assert.equal(mailbox.body.email, 'megan@contoso.com');
      assert.equal(mailbox.body.messageCount, 3);
      const inbox = mailbox.body.folders.find((folder) => folder.wellKnownName === 'inbox')!;
      assert.deepEqual([inbox.totalItemCount, inbox.unreadItemCount], [2, 1]);
      const junk = mailbox.body.folders.find((folder) => folder.wellKnownName === 'junkemail')!;
      assert.equal(junk.totalItemCount, 1);
      const byId = await call<{ email: string }>('GET', `/mailboxes/${emulator.seed.users.work.id}`);
      assert.equal(byId.body.email, 'megan@contoso.com');
      await expectError('/mailboxes/nobody@contoso.com', 404, 'CONTROL_USER_NOT_FOUND');
    });

    it("lists a folder's messages, newest first, by well-known name, display name or id", async () => {
      const inbox = await call<{ folder: string; messages: MessageBody[] }>(
        'GET',
        '/mailboxes/megan@contoso.com/folders/inbox/messages',
      );
      assert.equal(inbox.status, 200);
      assert.equal(inbox.body.folder, 'inbox');
      assert.deepEqual(
        inbox.body.messages.map((message) => message.internetMessageId),
        ['<m2@outlook.com>', '<m1@outlook.com>'],
      );
      const attachment = inbox.body.messages[0]!.attachments[0]!;
      assert.equal(attachment.name, 'photo.jpg');
      assert.equal(attachment.size, 4);
      assert.equal('contentBytes' in attachment, false, 'attachment contents only on request');
      const withContent = await call<{ messages: MessageBody[] }>(
        'GET',
        '/mailboxes/megan@contoso.com/folders/inbox/messages?attachmentContent=true&subject=photo',
      );
      assert.equal(withContent.body.messages.length, 1);
      assert.equal(withContent.body.messages[0]!.attachments[0]!.contentBytes, 'AAECAw==');

      const junk = await call<{ messages: MessageBody[] }>(
        'GET',
        `/mailboxes/megan@contoso.com/folders/${encodeURIComponent('Junk Email')}/messages`,
      );
      assert.deepEqual(
        junk.body.messages.map((message) => message.subject),
        ['Cheap watches'],
      );
      const mailbox = emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!;
      const junkId = findFolder(mailbox, 'junkemail')!.id;
      const byId = await call<{ messages: MessageBody[] }>(
        'GET',
        `/mailboxes/megan@contoso.com/folders/${junkId}/messages`,
      );
      assert.equal(byId.body.messages.length, 1);
      const empty = await call<{ messages: MessageBody[] }>(
        'GET',
        '/mailboxes/alex@outlook.com/folders/inbox/messages',
      );
      assert.deepEqual(empty.body.messages, []);
      await expectError('/mailboxes/megan@contoso.com/folders/nowhere/messages', 404, 'CONTROL_FOLDER_NOT_FOUND');
      await expectError('/mailboxes/megan@contoso.com/folders/inbox/messages?top=5', 400, 'CONTROL_INVALID_REQUEST');
    });

    it('finds a message in any folder by internetMessageId or sender', async () => {
      const found = await call<{ messages: MessageBody[] }>(
        'GET',
        `/mailboxes/megan@contoso.com/messages?internetMessageId=${encodeURIComponent('<m3@outlook.com>')}`,
      );
      assert.equal(found.body.messages.length, 1);
      assert.equal(found.body.messages[0]!.folder, 'junkemail');
      const bySender = await call<{ messages: MessageBody[] }>(
        'GET',
        '/mailboxes/megan@contoso.com/messages?from=ALEX@outlook.com',
      );
      assert.equal(bySender.body.messages.length, 2);
    });
  });

  describe('mail that left, deliveries and usage', () => {
    it('lists mail that left the emulated world, filtered by recipient', async () => {
      const base = {
        from: 'megan@contoso.com',
        cc: [],
        bcc: [],
        replyTo: [],
        body: { contentType: 'text' as const, content: 'hello' },
        headers: [],
        attachments: [],
        via: 'sendMail' as const,
      };
      emulator.ctx.world.outside.push(
        { ...base, id: 'o1', at: 1, to: ['Friend@Gmail.example'], subject: 'one', internetMessageId: '<o1@x>' },
        {
          ...base,
          id: 'o2',
          at: 2,
          to: ['other@gmail.example'],
          bcc: ['friend@gmail.example'],
          subject: 'two',
          internetMessageId: '<o2@x>',
        },
        { ...base, id: 'o3', at: 3, to: ['other@gmail.example'], subject: 'three', internetMessageId: '<o3@x>' },
      );
      const all = await call<{ messages: Array<{ id: string; at: string }> }>('GET', '/outside');
      assert.equal(all.body.messages.length, 3);
      assert.equal(all.body.messages[0]!.at, new Date(1).toISOString());
      const friend = await call<{ messages: Array<{ id: string }> }>('GET', '/outside?to=friend@gmail.example');
      assert.deepEqual(
        friend.body.messages.map((message) => message.id),
        ['o1', 'o2'],
      );
      const byId = await call<{ messages: Array<{ id: string }> }>(
        'GET',
        `/outside?internetMessageId=${encodeURIComponent('<o3@x>')}`,
      );
      assert.deepEqual(
        byId.body.messages.map((message) => message.id),
        ['o3'],
      );
      // With the envelope recorded, only the recipients the copy left for match (not the emulated ones).
      emulator.ctx.world.outside.push(
        Object.assign(
          {
            ...base,
            id: 'o4',
            at: 4,
            to: ['megan@contoso.com', 'far@gmail.example'],
            subject: 'four',
            internetMessageId: '<o4@x>',
          },
          { envelopeTo: ['far@gmail.example'] },
        ),
      );
      const far = await call<{ messages: Array<{ id: string }> }>('GET', '/outside?to=far@gmail.example');
      assert.deepEqual(
        far.body.messages.map((message) => message.id),
        ['o4'],
      );
      const local = await call<{ messages: Array<{ id: string }> }>('GET', '/outside?to=megan@contoso.com');
      assert.deepEqual(local.body.messages, []);
      await expectError('/outside?recipient=x', 400, 'CONTROL_INVALID_REQUEST');
    });

    it('lists deliveries by sender (id or email), recipient and internetMessageId', async () => {
      const megan = emulator.seed.users.work;
      const base = { replyTo: [], subject: 's', via: 'sendMail' as const, placements: [] };
      emulator.ctx.world.deliveries.push(
        {
          ...base,
          id: 'd1',
          at: 10,
          submittedAt: 10,
          senderUserId: megan.id,
          from: 'megan@contoso.com',
          recipients: ['alex@outlook.com'],
          internetMessageId: '<d1@x>',
        },
        {
          ...base,
          id: 'd2',
          at: 20,
          submittedAt: 20,
          senderUserId: null,
          from: 'smtp@outside.example',
          recipients: ['megan@contoso.com'],
          internetMessageId: '<d2@x>',
          via: 'smtp',
        },
      );
      const bySenderEmail = await call<{ deliveries: Array<{ id: string; senderEmail: string | null }> }>(
        'GET',
        '/deliveries?sender=megan@contoso.com',
      );
      assert.deepEqual(
        bySenderEmail.body.deliveries.map((record) => record.id),
        ['d1'],
      );
      assert.equal(bySenderEmail.body.deliveries[0]!.senderEmail, 'megan@contoso.com');
      const bySenderId = await call<{ deliveries: Array<{ id: string }> }>('GET', `/deliveries?sender=${megan.id}`);
      assert.deepEqual(
        bySenderId.body.deliveries.map((record) => record.id),
        ['d1'],
      );
      const smtp = await call<{ deliveries: Array<{ id: string }> }>('GET', '/deliveries?sender=smtp@outside.example');
      assert.deepEqual(
        smtp.body.deliveries.map((record) => record.id),
        ['d2'],
      );
      const byRecipient = await call<{ deliveries: Array<{ id: string }> }>(
        'GET',
        '/deliveries?recipient=MEGAN@contoso.com',
      );
      assert.deepEqual(
        byRecipient.body.deliveries.map((record) => record.id),
        ['d2'],
      );
      const byMessage = await call<{ deliveries: Array<{ id: string }> }>(
        'GET',
        `/deliveries?internetMessageId=${encodeURIComponent('<d1@x>')}`,
      );
      assert.equal(byMessage.body.deliveries.length, 1);
    });

    it('shows usage per app and mailbox against the limits that apply', async () => {
      const ctx = emulator.ctx;
      const now = ctx.clock.now();
      const alex = emulator.seed.users.personal;
      ctx.usage[`${DEMO_IDS.clientId}|${alex.id}`] = {
        clientId: DEMO_IDS.clientId,
        userId: alex.id,
        inFlight: 1,
        maxInFlight: 3,
        recentRequests: [now - 700_000, now - 5_000, now - 1_000],
        recentSends: [
          { at: now - 90_000_000, recipients: 50 },
          { at: now - 3_600_000, recipients: 3 },
          { at: now - 10_000, recipients: 2 },
        ],
        throttled: { concurrency: 0, requestRate: 1, messagesPerMinute: 0, recipientsPer24h: 0 },
      };
      const usage = await call<{
        usage: Array<{
          email: string;
          requestsLast10Minutes: number;
          sendsLastMinute: number;
          sendsLast24h: number;
          recipientsLast24h: number;
          limits: { sending: { recipientsPer24h: number } };
          throttled: { requestRate: number };
        }>;
      }>('GET', '/usage?user=alex@outlook.com');
      assert.equal(usage.status, 200);
      const entry = usage.body.usage[0]!;
      assert.equal(entry.email, 'alex@outlook.com');
      assert.equal(entry.requestsLast10Minutes, 2);
      assert.equal(entry.sendsLastMinute, 1);
      assert.equal(entry.sendsLast24h, 2);
      assert.equal(entry.recipientsLast24h, 5);
      assert.equal(entry.throttled.requestRate, 1);
      assert.equal(entry.limits.sending.recipientsPer24h, ctx.settings.limits.outlook.recipientsPer24h);
      const none = await call<{ usage: unknown[] }>('GET', '/usage?user=megan@contoso.com');
      assert.deepEqual(none.body.usage, []);
      const byClient = await call<{ usage: unknown[] }>('GET', `/usage?clientId=${DEMO_IDS.clientId.toUpperCase()}`);
      assert.equal(byClient.body.usage.length, 1);
      const mailbox = await call<{ usage: Array<{ clientId: string }> }>('GET', '/mailboxes/alex@outlook.com');
      assert.equal(mailbox.body.usage[0]!.clientId, DEMO_IDS.clientId);
      await expectError('/usage?user=nobody@contoso.com', 404, 'CONTROL_USER_NOT_FOUND');
    });
  });

  describe('request log', () => {
    it('lists the requests received (not control requests), with filters and without secrets', async () => {
      const ctx = emulator.ctx;
      const start = await call<{ lastSeq: number }>('GET', '/requests');
      await fetch(`${emulator.url}/probe/one`);
      await fetch(`${emulator.url}/probe/two?code=secret-code-value&state=abc`);
      await fetch(`${emulator.url}/other/three`, { method: 'POST' });
      await call('GET', '/users');

      const since = await call<{ lastSeq: number; requests: Array<{ seq: number; path: string; method: string }> }>(
        'GET',
        `/requests?sinceSeq=${start.body.lastSeq}`,
      );
      assert.equal(since.status, 200);
      assert.equal(since.body.requests.length, 3, 'control requests are not logged');
      assert.equal(since.body.lastSeq, start.body.lastSeq + 3);
      assert.ok(since.body.requests.every((entry) => entry.seq > start.body.lastSeq));
      assert.equal(JSON.stringify(since.body).includes('secret-code-value'), false);

      const probes = await call<{ requests: Array<{ path: string }> }>(
        'GET',
        `/requests?sinceSeq=${start.body.lastSeq}&pathPrefix=/probe`,
      );
      assert.deepEqual(
        probes.body.requests.map((entry) => entry.path.split('?')[0]),
        ['/probe/one', '/probe/two'],
      );
      const posts = await call<{ requests: Array<{ path: string }> }>(
        'GET',
        `/requests?sinceSeq=${start.body.lastSeq}&method=post`,
      );
      assert.deepEqual(
        posts.body.requests.map((entry) => entry.path),
        ['/other/three'],
      );
      const last = await call<{ requests: Array<{ path: string }> }>('GET', '/requests?limit=1');
      assert.deepEqual(
        last.body.requests.map((entry) => entry.path),
        ['/other/three'],
      );

      // The identity and Graph handlers name the client and the user; filter on them.
      const megan = emulator.seed.users.work;
      ctx.requestLog.push({
        seq: ctx.nextRequestSeq++,
        at: ctx.clock.now(),
        method: 'POST',
        path: '/v1.0/me/sendMail',
        status: 202,
        durationMs: 3,
        clientId: DEMO_IDS.clientId,
        userId: megan.id,
        note: null,
      });
      const mine = await call<{ requests: Array<{ path: string; status: number }> }>(
        'GET',
        `/requests?user=megan@contoso.com&clientId=${DEMO_IDS.clientId}&status=202`,
      );
      assert.deepEqual(
        mine.body.requests.map((entry) => entry.path),
        ['/v1.0/me/sendMail'],
      );
      await expectError('/requests?user=nobody@contoso.com', 404, 'CONTROL_USER_NOT_FOUND');
      await expectError('/requests?sinceSeq=-1', 400, 'CONTROL_INVALID_REQUEST');
      await expectError('/requests?pathPrefix=v1.0', 400, 'CONTROL_INVALID_REQUEST');
      await expectError('/requests?limit=0', 400, 'CONTROL_INVALID_REQUEST');
    });
  });
});
