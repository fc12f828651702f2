import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { type SmtpSink, startSmtpSink } from '../../emulator/smtp-sink.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, mintGraphToken, valuesOf } from '../support/graph-token.js';

describe('emulator SMTP sink', () => {
  let emulator: SeededEmulator;
  let sink: SmtpSink;
  before(async () => {
    emulator = await startSeededEmulator();
    sink = await startSmtpSink(emulator.ctx);
  });
  after(async () => {
    await sink.close();
    await emulator.close();
  });

  it('delivers mail submitted over SMTP like a Graph send: mailboxes, bounces and the outside world', async () => {
    const transport = nodemailer.createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true });
    const before = emulator.ctx.world.deliveries.length;
    const info = await transport.sendMail({
      from: 'Notifier <notify@example.com>',
      to: 'megan@contoso.com, friend@example.org',
      cc: 'ghost@fabrikam.com',
      bcc: 'adele@contoso.com',
      replyTo: 'support@example.com',
      subject: 'Your weekly digest',
      text: 'Three new things happened.',
      headers: { 'X-Digest': 'weekly' },
    });
    assert.deepEqual(info.rejected, []);
    assert.equal(emulator.ctx.world.deliveries.length, before + 1);
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.via, 'smtp');
    assert.equal(record.senderUserId, null);
    assert.equal(record.from, 'notify@example.com');
    assert.deepEqual(record.replyTo, ['support@example.com']);
    const outcome = Object.fromEntries(record.placements.map((placement) => [placement.address, placement.outcome]));
    assert.ok(outcome['megan@contoso.com'] === 'inbox' || outcome['megan@contoso.com'] === 'junkemail');
    assert.ok(outcome['adele@contoso.com'] === 'inbox' || outcome['adele@contoso.com'] === 'junkemail');
    assert.equal(outcome['friend@example.org'], 'outside');
    assert.equal(outcome['ghost@fabrikam.com'], 'ndr');

    const out = emulator.ctx.world.outside.at(-1)!;
    assert.equal(out.via, 'smtp');
    assert.deepEqual(out.envelopeTo, ['friend@example.org']);
    assert.equal(out.subject, 'Your weekly digest');

    const megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    const folder = outcome['megan@contoso.com'] === 'inbox' ? 'inbox' : 'junkemail';
    const [copy] = valuesOf(
      await callGraph(
        emulator.url,
        megan,
        'GET',
        `/me/mailFolders/${folder}/messages?$filter=${encodeURIComponent("subject eq 'Your weekly digest'")}&$select=from,replyTo,body,internetMessageId,bccRecipients`,
        undefined,
        { prefer: 'outlook.body-content-type="text"' },
      ),
    );
    assert.deepEqual(copy?.from, { emailAddress: { name: 'Notifier', address: 'notify@example.com' } });
    assert.deepEqual(copy?.bccRecipients, []);
    assert.equal((copy?.body as { content?: string } | undefined)?.content?.trim(), 'Three new things happened.');
    assert.equal(copy?.internetMessageId, info.messageId);
  });

  it('accepts any AUTH credentials', async () => {
    const transport = nodemailer.createTransport({
      host: sink.host,
      port: sink.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: 'mailbridge', pass: 'anything' },
    });
    const info = await transport.sendMail({
      from: 'megan@contoso.com',
      to: 'someone@example.net',
      subject: 'Authenticated',
      text: 'hello',
    });
    assert.deepEqual(info.accepted, ['someone@example.net']);
    assert.equal(emulator.ctx.world.outside.at(-1)?.subject, 'Authenticated');
  });
});
