import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findFolder } from '../../emulator/state/world.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken, valuesOf } from '../support/graph-token.js';

describe('emulator Graph: drafts, attachments, upload sessions, replies', () => {
  let emulator: SeededEmulator;
  let megan: string;
  let adele: string;
  before(async () => {
    emulator = await startSeededEmulator();
    megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    adele = mintGraphToken(emulator.ctx, emulator.seed.users.workWithMfa);
  });
  after(() => emulator.close());

  const createDraft = async (subject: string) => {
    const answer = await callGraph(emulator.url, megan, 'POST', '/me/messages', {
      subject,
      body: { contentType: 'Text', content: 'Draft body' },
      toRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
    });
    assert.equal(answer.status, 201);
    return answer.body!;
  };

  it('creates a draft (201) in Drafts with an internetMessageId that survives sending', async () => {
    const draft = await createDraft('Plan');
    assert.equal(draft.isDraft, true);
    assert.equal(draft.subject, 'Plan');
    const drafts = await callGraph(emulator.url, megan, 'GET', '/me/mailFolders/drafts');
    assert.equal(draft.parentFolderId, drafts.body?.id);
    const internetMessageId = String(draft.internetMessageId);
    assert.match(internetMessageId, /^<.+@.+>$/);

    const sent = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(draft.id)}/send`);
    assert.equal(sent.status, 202);
    assert.equal(sent.text, '');
    assert.equal((await callGraph(emulator.url, megan, 'GET', `/me/messages/${String(draft.id)}`)).status, 404);
    const inSent = await callGraph(
      emulator.url,
      megan,
      'GET',
      `/me/mailFolders/sentitems/messages?$filter=${encodeURIComponent(`internetMessageId eq '${internetMessageId}'`)}`,
    );
    assert.equal(valuesOf(inSent).length, 1);
    assert.equal(valuesOf(inSent)[0]?.isDraft, false);
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.via, 'draftSend');
    assert.equal(record.internetMessageId, internetMessageId);
    const received = await callGraph(
      emulator.url,
      adele,
      'GET',
      `/me/messages?$filter=${encodeURIComponent(`internetMessageId eq '${internetMessageId}'`)}`,
    );
    assert.equal(valuesOf(received)[0]?.subject, 'Plan');
  });

  it('updates draft-only properties while the message is a draft', async () => {
    const draft = await createDraft('Before');
    const patched = await callGraph(emulator.url, megan, 'PATCH', `/me/messages/${String(draft.id)}`, {
      subject: 'After',
      body: { contentType: 'HTML', content: '<p>new</p>' },
      ccRecipients: [{ emailAddress: { address: 'lee@fabrikam.com' } }],
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body?.subject, 'After');
    assert.deepEqual(patched.body?.ccRecipients, [
      { emailAddress: { name: 'lee@fabrikam.com', address: 'lee@fabrikam.com' } },
    ]);
  });

  it('refuses to send a draft without recipients (400 ErrorInvalidRecipients) and keeps it', async () => {
    const draft = await callGraph(emulator.url, megan, 'POST', '/me/messages', { subject: 'nobody' });
    const sent = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(draft.body?.id)}/send`);
    assert.equal(sent.status, 400);
    assert.equal(errorOf(sent).code, 'ErrorInvalidRecipients');
    assert.equal((await callGraph(emulator.url, megan, 'GET', `/me/messages/${String(draft.body?.id)}`)).status, 200);
  });

  it('adds a file attachment to a draft (201) and lists it', async () => {
    const draft = await createDraft('With attachment');
    const added = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(draft.id)}/attachments`, {
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: 'notes.txt',
      contentType: 'text/plain',
      contentBytes: Buffer.from('some notes').toString('base64'),
    });
    assert.equal(added.status, 201);
    assert.equal(added.body?.name, 'notes.txt');
    assert.equal(added.body?.size, 10);
    const listed = await callGraph(emulator.url, megan, 'GET', `/me/messages/${String(draft.id)}/attachments`);
    assert.equal(valuesOf(listed).length, 1);
    const withExpand = await callGraph(
      emulator.url,
      megan,
      'GET',
      `/me/messages/${String(draft.id)}?$expand=attachments`,
    );
    assert.equal((withExpand.body?.attachments as unknown[] | undefined)?.length, 1);
    assert.equal(withExpand.body?.hasAttachments, true);
  });

  it('uploads a large attachment through an upload session, in ordered chunks, without Authorization', async () => {
    const draft = await createDraft('Large file');
    const size = 5 * 1024 * 1024 + 123;
    const file = Buffer.alloc(size);
    for (let i = 0; i < size; i++) file[i] = i % 251;
    const session = await callGraph(
      emulator.url,
      megan,
      'POST',
      `/me/messages/${String(draft.id)}/attachments/createUploadSession`,
      { AttachmentItem: { attachmentType: 'file', name: 'big.bin', size, contentType: 'application/octet-stream' } },
    );
    assert.equal(session.status, 201);
    assert.deepEqual(session.body?.nextExpectedRanges, ['0-']);
    assert.match(String(session.body?.expirationDateTime), /^\d{4}-\d{2}-\d{2}T/);
    const uploadUrl = String(session.body?.uploadUrl);
    // Outlook's host and shape (docs/graph.md §3.1); this emulator serves that host on its own origin.
    assert.ok(uploadUrl.startsWith(`${emulator.url}/api/gv1.0/users('`), uploadUrl);
    assert.match(uploadUrl, /\/messages\('[^']+'\)\/AttachmentSessions\('[^']+'\)\?authtoken=/);

    const put = (start: number, end: number, url = uploadUrl, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `bytes ${start}-${end}/${size}`,
          ...headers,
        },
        body: file.subarray(start, end + 1),
      });
    const chunk = 2 * 1024 * 1024;
    // The Graph token sent along is refused as Outlook refuses it, and the bytes are not taken.
    const withToken = await put(0, chunk - 1, uploadUrl, { authorization: `Bearer ${megan}` });
    assert.equal(withToken.status, 401);
    const refusal = ((await withToken.json()) as { error: { code: string; message: string } }).error;
    assert.equal(refusal.code, 'InvalidAudienceForResource');
    assert.match(refusal.message, /^The audience claim value is invalid for current resource\. Audience claim is/);
    assert.doesNotMatch(refusal.message, /authtoken/, 'the URL credential is not echoed');
    const first = await put(0, chunk - 1);
    assert.equal(first.status, 200);
    assert.deepEqual(((await first.json()) as { nextExpectedRanges: string[] }).nextExpectedRanges, [String(chunk)]);

    const outOfOrder = await put(2 * chunk, size - 1);
    assert.equal(outOfOrder.status, 416);
    const badLength = await fetch(uploadUrl, {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `bytes ${chunk}-${2 * chunk - 1}/${size}`,
      },
      body: file.subarray(chunk, chunk + 10),
    });
    assert.equal(badLength.status, 400);
    const wrongToken = await put(chunk, 2 * chunk - 1, uploadUrl.replace(/authtoken=.*/, 'authtoken=forged'));
    assert.equal(wrongToken.status, 401);

    const second = await put(chunk, 2 * chunk - 1);
    assert.equal(second.status, 200);
    const last = await put(2 * chunk, size - 1);
    assert.equal(last.status, 201);
    assert.equal(await last.text(), '');
    const location = last.headers.get('location') ?? '';
    const attachmentId = /Attachments\('([^']+)'\)/.exec(location)?.[1];
    assert.ok(attachmentId, location);

    const attachment = await callGraph(
      emulator.url,
      megan,
      'GET',
      `/me/messages/${String(draft.id)}/attachments/${attachmentId}`,
    );
    assert.equal(attachment.status, 200);
    assert.equal(attachment.body?.size, size);
    assert.ok(Buffer.from(String(attachment.body?.contentBytes), 'base64').equals(file));
    assert.equal((await put(0, chunk - 1)).status, 404, 'a finished session is gone');
  });

  it('refuses upload sessions for files under 3 MB', async () => {
    const draft = await createDraft('Small file');
    const answer = await callGraph(
      emulator.url,
      megan,
      'POST',
      `/me/messages/${String(draft.id)}/attachments/createUploadSession`,
      {
        AttachmentItem: { attachmentType: 'file', name: 'small.txt', size: 1000 },
      },
    );
    assert.equal(answer.status, 400);
    assert.equal(errorOf(answer).code, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize');
  });

  it('replies (202) with a threaded RE: message to the original sender', async () => {
    const send = await callGraph(emulator.url, adele, 'POST', '/me/sendMail', {
      message: {
        subject: 'Lunch?',
        body: { contentType: 'Text', content: 'Noon at the usual place?' },
        toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }],
      },
    });
    assert.equal(send.status, 202);
    const original = valuesOf(
      await callGraph(emulator.url, megan, 'GET', "/me/mailFolders/inbox/messages?$filter=subject eq 'Lunch?'"),
    )[0]!;
    const both = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(original.id)}/reply`, {
      comment: 'Yes',
      message: { body: { contentType: 'Text', content: 'also yes' } },
    });
    assert.equal(both.status, 400);

    const reply = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(original.id)}/reply`, {
      comment: 'Sure!',
    });
    assert.equal(reply.status, 202);
    assert.equal(reply.text, '');
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.via, 'reply');
    assert.deepEqual(record.recipients, ['adele@contoso.com']);
    const received = valuesOf(
      await callGraph(
        emulator.url,
        adele,
        'GET',
        "/me/mailFolders/inbox/messages?$filter=subject eq 'RE: Lunch?'&$select=subject,conversationId,body,internetMessageHeaders",
      ),
    )[0]!;
    assert.equal(received.conversationId, original.conversationId);
    const headers = received.internetMessageHeaders as Array<{ name: string; value: string }>;
    assert.ok(headers.some((header) => header.name === 'In-Reply-To' && header.value === original.internetMessageId));
    assert.match(String((received.body as { content: string }).content), /Sure!/);
    const mailbox = emulator.ctx.world.mailboxes[emulator.seed.users.workWithMfa.id]!;
    const copy = Object.values(mailbox.messages).find((message) => message.subject === 'RE: Lunch?');
    assert.equal(copy?.inReplyTo, original.internetMessageId);
    const sentCopy = await callGraph(
      emulator.url,
      megan,
      'GET',
      "/me/mailFolders/sentitems/messages?$filter=subject eq 'RE: Lunch?'",
    );
    assert.equal(valuesOf(sentCopy).length, 1);
  });

  it('creates a reply draft (201) that threads when sent', async () => {
    const send = await callGraph(emulator.url, adele, 'POST', '/me/sendMail', {
      message: {
        subject: 'Budget',
        replyTo: [{ emailAddress: { address: 'finance@contoso.com' } }],
        toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }],
      },
    });
    assert.equal(send.status, 202);
    const original = valuesOf(
      await callGraph(emulator.url, megan, 'GET', "/me/mailFolders/inbox/messages?$filter=subject eq 'Budget'"),
    )[0]!;
    const draft = await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(original.id)}/createReply`, {
      comment: 'Looking.',
    });
    assert.equal(draft.status, 201);
    assert.equal(draft.body?.isDraft, true);
    assert.equal(draft.body?.subject, 'RE: Budget');
    assert.deepEqual(draft.body?.toRecipients, [
      { emailAddress: { name: 'finance@contoso.com', address: 'finance@contoso.com' } },
    ]);
    assert.equal(draft.body?.conversationId, original.conversationId);
    const drafts = findFolder(emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!, 'drafts')!;
    assert.equal(draft.body?.parentFolderId, drafts.id);
    const patched = await callGraph(emulator.url, megan, 'PATCH', `/me/messages/${String(draft.body?.id)}`, {
      toRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
    });
    assert.equal(patched.status, 200);
    assert.equal(
      (await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(draft.body?.id)}/send`)).status,
      202,
    );
    const copy = Object.values(emulator.ctx.world.mailboxes[emulator.seed.users.workWithMfa.id]!.messages).find(
      (message) => message.subject === 'RE: Budget',
    );
    assert.equal(copy?.inReplyTo, original.internetMessageId);
    assert.equal(copy?.conversationId, original.conversationId);
  });

  it('needs Mail.Send to reply but only Mail.ReadWrite to create a reply draft', async () => {
    const readWrite = mintGraphToken(emulator.ctx, emulator.seed.users.work, ['Mail.ReadWrite']);
    const original = valuesOf(await callGraph(emulator.url, megan, 'GET', '/me/mailFolders/inbox/messages?$top=1'))[0]!;
    assert.equal(
      (await callGraph(emulator.url, readWrite, 'POST', `/me/messages/${String(original.id)}/reply`, { comment: 'x' }))
        .status,
      403,
    );
    assert.equal(
      (await callGraph(emulator.url, readWrite, 'POST', `/me/messages/${String(original.id)}/createReply`)).status,
      201,
    );
  });
});
