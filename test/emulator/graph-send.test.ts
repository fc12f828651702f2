import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type { MailMessage } from '../../emulator/state/model.js';
import { findFolder } from '../../emulator/state/world.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken, valuesOf } from '../support/graph-token.js';

/** Base64 MIME as a client would build it for `POST /me/sendMail` with `Content-Type: text/plain`. */
async function mime(options: SendMailOptions): Promise<string> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const info = await transport.sendMail(options);
  return (info.message as Buffer).toString('base64');
}

function messagesIn(emulator: SeededEmulator, userId: string, folder: string): MailMessage[] {
  const mailbox = emulator.ctx.world.mailboxes[userId]!;
  const id = findFolder(mailbox, folder)!.id;
  return Object.values(mailbox.messages).filter((message) => message.parentFolderId === id);
}

describe('emulator Graph: sendMail', () => {
  let emulator: SeededEmulator;
  let megan: string;
  before(async () => {
    emulator = await startSeededEmulator();
    megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
  });
  after(() => emulator.close());

  const send = (body: unknown, token = megan) => callGraph(emulator.url, token, 'POST', '/me/sendMail', body);

  it('accepts a JSON message with 202 and an empty body, copies it to Sent Items and to the recipient', async () => {
    const deliveriesBefore = emulator.ctx.world.deliveries.length;
    const answer = await send({
      message: {
        subject: 'Quarterly numbers',
        body: { contentType: 'Text', content: 'Here they are.' },
        toRecipients: [{ emailAddress: { address: 'adele@contoso.com', name: 'Adele' } }],
        replyTo: [{ emailAddress: { address: 'replies@contoso.com' } }],
        internetMessageHeaders: [{ name: 'x-campaign', value: 'q3' }],
      },
    });
    assert.equal(answer.status, 202);
    assert.equal(answer.text, '');
    assert.ok(answer.headers.get('request-id'));
    assert.equal(emulator.ctx.world.deliveries.length, deliveriesBefore + 1);
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.via, 'sendMail');
    assert.equal(record.from, 'megan@contoso.com');
    assert.deepEqual(record.replyTo, ['replies@contoso.com']);
    assert.deepEqual(record.placements, [{ address: 'adele@contoso.com', outcome: 'inbox' }]);
    assert.match(record.internetMessageId, /^<[A-Z0-9]+@[A-Z0-9]+\.namprd\d+\.prod\.outlook\.com>$/);

    const sent = messagesIn(emulator, emulator.seed.users.work.id, 'sentitems').find(
      (m) => m.subject === 'Quarterly numbers',
    );
    assert.ok(sent, 'a copy in Sent Items');
    assert.equal(sent.internetMessageId, record.internetMessageId);

    const adele = mintGraphToken(emulator.ctx, emulator.seed.users.workWithMfa);
    const inbox = await callGraph(
      emulator.url,
      adele,
      'GET',
      "/me/mailFolders/inbox/messages?$select=subject,from,sender,replyTo,internetMessageId,internetMessageHeaders&$filter=subject eq 'Quarterly numbers'",
    );
    assert.equal(inbox.status, 200);
    const [received] = valuesOf(inbox);
    assert.deepEqual(received?.from, { emailAddress: { name: 'Megan Bowen', address: 'megan@contoso.com' } });
    assert.deepEqual(received?.sender, received?.from);
    assert.deepEqual(received?.replyTo, [
      { emailAddress: { name: 'replies@contoso.com', address: 'replies@contoso.com' } },
    ]);
    assert.equal(received?.internetMessageId, record.internetMessageId);
    const headers = received?.internetMessageHeaders as Array<{ name: string; value: string }>;
    assert.ok(headers.some((header) => header.name === 'x-campaign' && header.value === 'q3'));
  });

  it('keeps no Sent Items copy with saveToSentItems false', async () => {
    const before = messagesIn(emulator, emulator.seed.users.work.id, 'sentitems').length;
    const answer = await send({
      message: { subject: 'quiet', toRecipients: [{ emailAddress: { address: 'someone@example.org' } }] },
      saveToSentItems: false,
    });
    assert.equal(answer.status, 202);
    assert.equal(messagesIn(emulator, emulator.seed.users.work.id, 'sentitems').length, before);
  });

  it('refuses a from address other than the mailbox owner with 403 ErrorSendAsDenied, delivering nothing', async () => {
    const before = emulator.ctx.world.deliveries.length;
    const answer = await send({
      message: {
        subject: 'spoof',
        from: { emailAddress: { address: 'ceo@contoso.com' } },
        toRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
      },
    });
    assert.equal(answer.status, 403);
    assert.equal(errorOf(answer).code, 'ErrorSendAsDenied');
    assert.equal(emulator.ctx.world.deliveries.length, before);
    const own = await send({
      message: {
        subject: 'own from',
        from: { emailAddress: { address: 'MEGAN@contoso.com' } },
        toRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
      },
    });
    assert.equal(own.status, 202);
  });

  it('refuses messages without recipients or with malformed addresses (400 ErrorInvalidRecipients)', async () => {
    const none = await send({ message: { subject: 'nobody' } });
    assert.equal(none.status, 400);
    assert.equal(errorOf(none).code, 'ErrorInvalidRecipients');
    assert.match(errorOf(none).message, /contains no recipients/);
    for (const address of ['not-an-address', 'name.@example.org', 'a@b', 'two@@example.org']) {
      const bad = await send({ message: { subject: 'bad', toRecipients: [{ emailAddress: { address } }] } });
      assert.equal(bad.status, 400, address);
      assert.equal(errorOf(bad).code, 'ErrorInvalidRecipients');
      assert.match(errorOf(bad).message, /is not resolved/);
    }
  });

  it('allows only x- custom headers, at most five', async () => {
    const to = [{ emailAddress: { address: 'someone@example.org' } }];
    const wrong = await send({
      message: { subject: 'h', toRecipients: to, internetMessageHeaders: [{ name: 'In-Reply-To', value: '<a@b>' }] },
    });
    assert.equal(wrong.status, 400);
    assert.equal(errorOf(wrong).code, 'InvalidInternetMessageHeader');
    const headers = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `X-Custom-${i}`, value: `${i}` }));
    const six = await send({ message: { subject: 'h', toRecipients: to, internetMessageHeaders: headers(6) } });
    assert.equal(six.status, 400);
    assert.equal(errorOf(six).code, 'InvalidInternetMessageHeaderCollection');
    const five = await send({ message: { subject: 'h', toRecipients: to, internetMessageHeaders: headers(5) } });
    assert.equal(five.status, 202);
  });

  it('refuses bodies Graph cannot read: bad JSON, unknown properties, a missing message', async () => {
    const badJson = await fetch(`${emulator.url}/v1.0/me/sendMail`, {
      method: 'POST',
      headers: { authorization: `Bearer ${megan}`, 'content-type': 'application/json' },
      body: '{"message": {',
    });
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as { error: { code: string } }).error.code, 'BadRequest');
    const unknown = await send({ message: { subject: 'x', colour: 'blue' } });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).code, 'RequestBodyRead');
    const badParameter = await send({ message: { subject: 'x' }, urgent: true });
    assert.equal(badParameter.status, 400);
    assert.match(errorOf(badParameter).message, /not a valid parameter for the operation 'sendMail'/);
    const missing = await send({ saveToSentItems: true });
    assert.equal(missing.status, 400);
    assert.equal(errorOf(missing).code, 'ErrorInvalidParameter');
    const badType = await send({ message: { subject: 'x', body: { contentType: 'markdown', content: '' } } });
    assert.equal(badType.status, 400);
  });

  it("refuses a request over 4 MB with 413 BadRequest and Microsoft's message", async () => {
    const big = 'a'.repeat(4 * 1024 * 1024 + 10);
    const answer = await send({
      message: {
        subject: 'big',
        body: { contentType: 'Text', content: big },
        toRecipients: [{ emailAddress: { address: 'a@example.org' } }],
      },
    });
    assert.equal(answer.status, 413);
    // [OBS] docs/graph.md §3.3.
    assert.equal(errorOf(answer).code, 'BadRequest');
    assert.equal(errorOf(answer).message, 'The maximum request length supported is 4MB.');
  });

  it('refuses inline attachments over 3 MB (when the request ceiling is raised to let them through)', async () => {
    const limits = emulator.ctx.settings.limits;
    const saved = limits.maxRequestBytes;
    limits.maxRequestBytes = 16 * 1024 * 1024;
    try {
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 1, 7).toString('base64');
      const answer = await send({
        message: {
          subject: 'attachment',
          toRecipients: [{ emailAddress: { address: 'a@example.org' } }],
          attachments: [{ '@odata.type': '#microsoft.graph.fileAttachment', name: 'big.bin', contentBytes: bytes }],
        },
      });
      assert.equal(answer.status, 413);
    } finally {
      limits.maxRequestBytes = saved;
    }
  });

  it('delivers inline attachments under 3 MB', async () => {
    const answer = await send({
      message: {
        subject: 'with file',
        toRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
        attachments: [
          {
            '@odata.type': '#microsoft.graph.fileAttachment',
            name: 'hello.txt',
            contentType: 'text/plain',
            contentBytes: Buffer.from('hello').toString('base64'),
          },
        ],
      },
    });
    assert.equal(answer.status, 202);
    const copy = messagesIn(emulator, emulator.seed.users.workWithMfa.id, 'inbox').find(
      (m) => m.subject === 'with file',
    );
    assert.equal(copy?.attachments[0]?.name, 'hello.txt');
    assert.equal(copy?.attachments[0]?.size, 5);
  });

  it('accepts base64 MIME as text/plain and sends as the owner whatever From says', async () => {
    const body = await mime({
      from: 'Somebody Else <boss@contoso.com>',
      to: 'adele@contoso.com',
      cc: 'outsider@example.org',
      subject: 'MIME hello',
      text: 'plain body',
      headers: { 'X-Tracking': 'abc' },
    });
    const answer = await send(body);
    assert.equal(answer.status, 202);
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.via, 'sendMailMime');
    assert.equal(record.from, 'megan@contoso.com');
    assert.deepEqual(record.recipients, ['adele@contoso.com', 'outsider@example.org']);
    const copy = messagesIn(emulator, emulator.seed.users.workWithMfa.id, 'inbox').find(
      (m) => m.subject === 'MIME hello',
    );
    assert.equal(copy?.from?.emailAddress.address, 'megan@contoso.com');
    assert.equal(copy?.body.content.trim(), 'plain body');
    assert.ok(copy?.internetMessageHeaders.some((header) => header.name === 'X-Tracking'));
  });

  it('answers MIME that is not base64 with 400 ErrorMimeContentInvalidBase64String', async () => {
    const answer = await send('From: a@b.c\r\nTo: d@e.f\r\n\r\nnot base64 at all!');
    assert.equal(answer.status, 400);
    assert.equal(errorOf(answer).code, 'ErrorMimeContentInvalidBase64String');
    assert.equal(errorOf(answer).message, 'Invalid base64 string for MIME content.');
  });

  it('refuses more recipients per message than the mailbox type allows', async () => {
    const exchange = emulator.ctx.settings.limits.exchange;
    const saved = exchange.recipientsPerMessage;
    exchange.recipientsPerMessage = 3;
    try {
      const toRecipients = Array.from({ length: 4 }, (_, i) => ({ emailAddress: { address: `r${i}@example.org` } }));
      const answer = await send({ message: { subject: 'many', toRecipients } });
      assert.equal(answer.status, 400);
      assert.equal(errorOf(answer).code, 'ErrorExceededMaxRecipientLimit');
    } finally {
      exchange.recipientsPerMessage = saved;
    }
  });
});
