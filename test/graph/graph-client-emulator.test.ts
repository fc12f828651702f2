/**
 * The Graph client against the emulator's Graph API over real HTTP: the happy paths a sender and the warm-up need,
 * and the failures Microsoft produces (taught to the emulator through its control API), classified end to end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GraphClient, type GraphClient as GraphClientType } from '../../src/graph/graph-client.js';
import { GraphError } from '../../src/graph/graph-error.js';
import { classifyHealth } from '../../src/health/classify-health.js';
import { isRetryable } from '../../src/health/retry-policy.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { mintGraphToken } from '../support/graph-token.js';

let emulator: SeededEmulator;
let client: GraphClientType;
let meganToken: string;
let alexToken: string;

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${emulator.url}/_emulator${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  assert.ok(response.ok, `control ${method} ${path}: ${response.status} ${await response.clone().text()}`);
  const text = await response.text();
  return text === '' ? null : JSON.parse(text);
}

async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GraphError, `expected a GraphError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a GraphError');
}

before(async () => {
  emulator = await startSeededEmulator();
  client = new GraphClient({ baseUrl: `${emulator.url}/v1.0`, timeoutMs: 5000 });
  meganToken = mintGraphToken(emulator.ctx, emulator.seed.users.work);
  alexToken = mintGraphToken(emulator.ctx, emulator.seed.users.personal);
});

after(async () => {
  await emulator?.close();
});

describe('GraphClient against the emulator', () => {
  test('getMe answers the signed-in user with a request-id', async () => {
    const me = await client.getMe(meganToken);
    assert.equal(me.status, 200);
    assert.equal(me.data.id, emulator.seed.users.work.id);
    assert.equal(me.data.userPrincipalName, 'megan@contoso.com');
    assert.ok(me.requestId, 'request-id recorded on success');
  });

  test('sendMail: 202, delivered to the recipient with the sender and reply-to; saved to Sent Items', async () => {
    const subject = `Hello from the graph client ${Date.now()}`;
    const sent = await client.sendMail(meganToken, {
      subject,
      body: { contentType: 'Text', content: 'Hi Alex' },
      toRecipients: [{ emailAddress: { address: 'alex@outlook.com', name: 'Alex' } }],
      replyTo: [{ emailAddress: { address: 'replies@contoso.com' } }],
    });
    assert.equal(sent.status, 202);
    assert.equal(sent.data, undefined);
    assert.ok(sent.requestId);

    const page = await client.listMessages(meganToken, 'sentitems', {
      filter: `subject eq '${subject}'`,
      select: ['subject', 'internetMessageId'],
    });
    assert.equal(page.data.value.length, 1);
    const internetMessageId = page.data.value[0]?.internetMessageId;
    assert.ok(internetMessageId);

    const landed = (await control(
      'GET',
      `/mailboxes/alex@outlook.com/messages?internetMessageId=${encodeURIComponent(internetMessageId)}`,
    )) as { messages: unknown[] };
    const copies = landed.messages;
    assert.equal(copies.length, 1, 'one copy in the recipient mailbox');
    const copy = copies[0] as {
      from?: { emailAddress?: { address?: string } };
      replyTo?: { emailAddress: { address: string } }[];
    };
    assert.equal(copy.from?.emailAddress?.address, 'megan@contoso.com');
    assert.equal(copy.replyTo?.[0]?.emailAddress.address, 'replies@contoso.com');
  });

  test('drafts: create, inline attachment, large attachment through an upload session, send', async () => {
    const draft = await client.createDraft(meganToken, {
      subject: 'Draft with attachments',
      body: { contentType: 'HTML', content: '<p>See attached</p>' },
      toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }],
    });
    assert.equal(draft.status, 201);
    assert.equal(draft.data.isDraft, true);

    const small = await client.addAttachment(meganToken, draft.data.id, {
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: 'note.txt',
      contentType: 'text/plain',
      contentBytes: Buffer.from('hello').toString('base64'),
    });
    assert.equal(small.status, 201);

    const bytes = new Uint8Array(3_500_000).fill(7);
    const last = await client.uploadLargeAttachment(meganToken, draft.data.id, {
      name: 'big.bin',
      contentType: 'application/octet-stream',
      bytes,
    });
    assert.equal(last.status, 201);
    assert.equal(last.data.done, true);

    const reread = await client.getMessage(meganToken, draft.data.id, { select: ['hasAttachments', 'isDraft'] });
    assert.equal(reread.data.hasAttachments, true);

    const sent = await client.sendDraft(meganToken, draft.data.id);
    assert.equal(sent.status, 202);
  });

  test('listing pages through @odata.nextLink', async () => {
    for (const n of [1, 2, 3]) {
      await client.sendMail(alexToken, {
        subject: `paging ${n}`,
        body: { contentType: 'Text', content: 'x' },
        toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }],
      });
    }
    const first = await client.listMessages(alexToken, 'sentitems', { top: 2, select: ['subject'] });
    assert.equal(first.data.value.length, 2);
    assert.ok(first.data.nextLink, 'a nextLink on a partial page');
    const subjects: string[] = [];
    for await (const message of client.iterateMessages(alexToken, 'sentitems', { top: 2, select: ['subject'] })) {
      subjects.push(String(message.subject));
    }
    assert.ok(subjects.length >= 3);
    for (const n of [1, 2, 3]) assert.ok(subjects.includes(`paging ${n}`));
  });

  test('folders, move (new id), update, replies', async () => {
    const folders = await client.listMailFolders(meganToken, { top: 100 });
    assert.ok(folders.data.value.some((f) => f.displayName === 'Inbox'));
    const created = await client.createMailFolder(meganToken, { displayName: `Warmup ${Date.now()}` });
    assert.equal(created.status, 201);

    const draft = await client.createDraft(meganToken, {
      subject: 'to move',
      body: { contentType: 'Text', content: 'x' },
    });
    const moved = await client.moveMessage(meganToken, draft.data.id, created.data.id);
    assert.equal(moved.status, 201);
    assert.notEqual(moved.data.id, draft.data.id, 'a move gives a new id');
    assert.equal(moved.data.parentFolderId, created.data.id);

    const updated = await client.updateMessage(meganToken, moved.data.id, { isRead: true, importance: 'high' });
    assert.equal(updated.data.isRead, true);

    const inbox = await client.listMessages(meganToken, 'inbox', { top: 1, select: ['id', 'subject'] });
    const received = inbox.data.value[0];
    assert.ok(received, 'Megan has mail from the paging test');
    const replyDraft = await client.createReply(meganToken, received.id, { comment: 'Thanks!' });
    assert.equal(replyDraft.status, 201);
    assert.equal(replyDraft.data.isDraft, true);
    const replied = await client.reply(meganToken, received.id, { comment: 'Got it' });
    assert.equal(replied.status, 202);
  });

  test('mailbox settings and inbox rules', async () => {
    const settings = await client.getMailboxSettings(meganToken);
    assert.equal(settings.status, 200);
    const patched = await client.updateMailboxSettings(meganToken, { timeZone: 'Pacific Standard Time' });
    assert.equal(patched.data.timeZone, 'Pacific Standard Time');

    const rule = await client.createMessageRule(meganToken, {
      displayName: 'Warm-up to folder',
      sequence: 1,
      isEnabled: true,
      conditions: { headerContains: ['X-Mailbridge-Warmup'] },
      actions: { markAsRead: true, stopProcessingRules: true },
    });
    assert.equal(rule.status, 201);
    assert.ok(rule.data.id);
    const listed = await client.listMessageRules(meganToken);
    assert.ok(listed.data.value.some((r) => r.id === rule.data.id));
    const renamed = await client.updateMessageRule(meganToken, rule.data.id, { displayName: 'Renamed' });
    assert.equal(renamed.data.displayName, 'Renamed');
    const fetched = await client.getMessageRule(meganToken, rule.data.id);
    assert.equal(fetched.data.displayName, 'Renamed');
    const deleted = await client.deleteMessageRule(meganToken, rule.data.id);
    assert.equal(deleted.status, 204);
  });
});

describe('GraphClient failures from the emulator, classified', () => {
  test('an unknown token: 401 → refresh once; after a fresh refresh → token_invalid', async () => {
    const err = await graphErrorOf(client.getMe('not-a-token'));
    assert.equal(err.code, 'GRAPH_UNAUTHORIZED');
    assert.equal(err.evidence.graphCode, 'InvalidAuthenticationToken');
    assert.ok(err.evidence.requestId);
    assert.equal(classifyHealth(err.evidence).status, 'degraded');
    const health = classifyHealth(err.evidence, { afterFreshRefresh: true });
    assert.equal(health.status === 'reconnect_required' && health.reason, 'token_invalid');
  });

  test('a token without Mail.Send: 403 ErrorAccessDenied → missing_scopes', async () => {
    const readOnly = mintGraphToken(emulator.ctx, emulator.seed.users.work, ['User.Read']);
    const err = await graphErrorOf(client.sendMail(readOnly, { subject: 'x', toRecipients: [] }));
    assert.equal(err.code, 'GRAPH_FORBIDDEN');
    assert.equal(err.evidence.graphCode, 'ErrorAccessDenied');
    const health = classifyHealth(err.evidence);
    assert.equal(health.status === 'reconnect_required' && health.reason, 'missing_scopes');
    assert.deepEqual(isRetryable(err.evidence), { retry: false, outcome: 'rejected' });
  });

  test('throttled send: 429 with fractional Retry-After, retried after it', async () => {
    await control('POST', '/faults', { kind: 'throttle429', target: 'send', email: 'megan@contoso.com', count: 1 });
    const err = await graphErrorOf(
      client.sendMail(meganToken, {
        subject: 'throttled',
        body: { contentType: 'Text', content: 'x' },
        toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }],
      }),
    );
    assert.equal(err.code, 'GRAPH_THROTTLED');
    assert.equal(err.evidence.retryAfterMs, 2128);
    assert.deepEqual(isRetryable(err.evidence), { retry: true, afterMs: 2128, outcome: 'rejected' });
    const health = classifyHealth(err.evidence);
    assert.equal(health.status === 'degraded' && health.reason, 'throttled');
  });

  test('a send accepted then the connection dropped: unknown outcome, and the mail did go out', async () => {
    await control('POST', '/faults', {
      kind: 'timeoutAfterAccept',
      target: 'send',
      email: 'megan@contoso.com',
      count: 1,
    });
    const subject = `accepted then dropped ${Date.now()}`;
    const err = await graphErrorOf(
      client.sendMail(meganToken, {
        subject,
        body: { contentType: 'Text', content: 'x' },
        toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }],
      }),
    );
    assert.equal(err.code, 'GRAPH_NETWORK_ERROR');
    assert.equal(err.evidence.requestSent, 'unknown');
    assert.deepEqual(isRetryable(err.evidence), { retry: false, outcome: 'unknown' });
    const sent = await client.listMessages(meganToken, 'sentitems', { filter: `subject eq '${subject}'` });
    assert.equal(sent.data.value.length, 1, 'the message went out although the client saw no answer');
  });

  test('a mailbox without REST: MailboxNotEnabledForRESTAPI → mailbox_unusable', async () => {
    await control('PATCH', '/users/adele@contoso.com', { mailboxEnabled: false });
    const token = mintGraphToken(emulator.ctx, emulator.seed.users.workWithMfa);
    const err = await graphErrorOf(client.listMessages(token, 'inbox'));
    assert.equal(err.evidence.graphCode, 'MailboxNotEnabledForRESTAPI');
    const health = classifyHealth(err.evidence);
    assert.equal(health.status === 'mailbox_unusable' && health.reason, 'not_rest_enabled');
  });

  test('a missing message: ErrorItemNotFound says nothing against the connection', async () => {
    const err = await graphErrorOf(client.getMessage(meganToken, 'AAMkAGI2TG93AAA='));
    assert.equal(err.code, 'GRAPH_NOT_FOUND');
    assert.equal(err.evidence.graphCode, 'ErrorItemNotFound');
    assert.equal(classifyHealth(err.evidence).status, 'connected');
  });

  test('the emulator down: connection refused, not sent, retry is safe', async () => {
    const gone = await startSeededEmulator();
    const base = `${gone.url}/v1.0`;
    await gone.close();
    const err = await graphErrorOf(new GraphClient({ baseUrl: base }).sendMail(meganToken, { subject: 'x' }));
    assert.equal(err.evidence.requestSent, 'no');
    assert.deepEqual(isRetryable(err.evidence), { retry: true, outcome: 'not_sent' });
  });
});
