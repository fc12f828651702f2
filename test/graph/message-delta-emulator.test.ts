/**
 * The warm-up engine's Graph calls against the emulator over real HTTP: delta rounds over a folder (runDeltaRound),
 * and the receive-side actions (flag, importance, isRead, move, createReply + send) showing up in the next round.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GraphClient } from '../../src/graph/graph-client.js';
import type { GraphMessage } from '../../src/graph/graph-types.js';
import { type DeltaRound, runDeltaRound } from '../../src/graph/message-delta.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, mintGraphToken, valuesOf } from '../support/graph-token.js';

let emulator: SeededEmulator;
let client: GraphClient;
let alex: string;
let lee: string;

before(async () => {
  emulator = await startSeededEmulator({ seed: 'client-delta-seed' });
  emulator.ctx.settings.delivery.junkBase = 0;
  client = new GraphClient({ baseUrl: `${emulator.url}/v1.0`, timeoutMs: 5000 });
  alex = mintGraphToken(emulator.ctx, emulator.seed.users.personal);
  const leeUser = Object.values(emulator.ctx.world.users).find((user) => user.email === 'lee@fabrikam.com')!;
  lee = mintGraphToken(emulator.ctx, leeUser);
});

after(async () => {
  await emulator?.close();
});

async function leeSends(subject: string): Promise<void> {
  await client.sendMail(lee, {
    subject,
    body: { contentType: 'text', content: `Body of ${subject}` },
    toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }],
  });
  emulator.ctx.clock.advance(5);
}

function changesOf(round: DeltaRound): Extract<DeltaRound, { kind: 'changes' }> {
  assert.equal(round.kind, 'changes');
  return round as Extract<DeltaRound, { kind: 'changes' }>;
}

const SELECT = ['subject', 'isRead', 'flag', 'importance', 'internetMessageId', 'conversationId'];

describe('runDeltaRound and the receive-side actions against the emulator', () => {
  let inboxLink = '';

  test('an initial round follows every nextLink and ends with a deltaLink', async () => {
    for (const subject of ['Warm 1', 'Warm 2', 'Warm 3', 'Warm 4', 'Warm 5']) await leeSends(subject);
    const round = changesOf(
      await runDeltaRound(client, alex, { folder: 'inbox', odata: { select: SELECT } }, { maxPageSize: 2 }),
    );
    assert.equal(round.pages, 3);
    assert.deepEqual(round.changed.map((message) => message.subject).sort(), [
      'Warm 1',
      'Warm 2',
      'Warm 3',
      'Warm 4',
      'Warm 5',
    ]);
    assert.equal(round.removed.length, 0);
    inboxLink = round.deltaLink;
  });

  test('flag, importance, isRead, a move to Junk and a sent createReply show up in the next round, nothing else', async () => {
    const inbox: GraphMessage[] = [];
    for await (const message of client.iterateMessages(alex, 'inbox')) inbox.push(message);
    const idOf = (subject: string) => inbox.find((message) => message.subject === subject)!.id;

    const flagged = await client.updateMessage(alex, idOf('Warm 1'), { flag: { flagStatus: 'flagged' } });
    assert.equal(flagged.status, 200);
    assert.equal(flagged.data.flag?.flagStatus, 'flagged');
    const important = await client.updateMessage(alex, idOf('Warm 2'), { importance: 'high', isRead: true });
    assert.equal(important.data.importance, 'high');
    assert.equal(important.data.isRead, true);
    const moved = await client.moveMessage(alex, idOf('Warm 3'), 'junkemail');
    assert.equal(moved.status, 201);
    assert.notEqual(moved.data.id, idOf('Warm 3'), 'a move gives a new id without ImmutableId');

    const original = inbox.find((message) => message.subject === 'Warm 4')!;
    const draft = await client.createReply(alex, original.id, { comment: 'Thanks, noted.' });
    assert.equal(draft.status, 201);
    assert.equal(draft.data.subject, 'RE: Warm 4');
    assert.equal(draft.data.conversationId, original.conversationId);
    assert.equal((await client.sendDraft(alex, draft.data.id)).status, 202);

    // What Lee received: threaded on the original (same conversation, In-Reply-To and References headers).
    const leeInbox: GraphMessage[] = [];
    for await (const message of client.iterateMessages(lee, 'inbox', {
      select: ['subject', 'conversationId', 'internetMessageHeaders'],
    })) {
      leeInbox.push(message);
    }
    const reply = leeInbox.find((message) => message.subject === 'RE: Warm 4');
    assert.ok(reply, 'the reply reached the original sender');
    assert.equal(reply.conversationId, original.conversationId);
    const headers = new Map(
      (reply.internetMessageHeaders ?? []).map((header) => [header.name.toLowerCase(), header.value]),
    );
    assert.equal(headers.get('in-reply-to'), original.internetMessageId);
    assert.equal(headers.get('references'), original.internetMessageId);

    const next = changesOf(await runDeltaRound(client, alex, { deltaLink: inboxLink }));
    const byId = new Map(next.changed.map((message) => [message.id, message]));
    assert.deepEqual([...byId.keys()].sort(), [idOf('Warm 1'), idOf('Warm 2')].sort());
    assert.equal(byId.get(idOf('Warm 1'))!.flag?.flagStatus, 'flagged');
    assert.equal(byId.get(idOf('Warm 2'))!.importance, 'high');
    assert.deepEqual(
      next.removed.map((removed) => removed.id),
      [idOf('Warm 3')],
    );
    inboxLink = next.deltaLink;

    // The reply went through Drafts into Sent Items: Sent Items' first round has it.
    const sent = changesOf(await runDeltaRound(client, alex, { folder: 'sentitems', odata: { select: ['subject'] } }));
    assert.deepEqual(
      sent.changed.map((message) => message.subject),
      ['RE: Warm 4'],
    );
  });

  test('keeps the id across a move with ImmutableId, in the move answer and in delta', async () => {
    const immutable = new GraphClient({ baseUrl: `${emulator.url}/v1.0`, preferImmutableIds: true });
    const start = changesOf(await runDeltaRound(immutable, alex, { folder: 'inbox', odata: { select: ['subject'] } }));
    const target = start.changed.find((message) => message.subject === 'Warm 5')!;
    const moved = await immutable.moveMessage(alex, target.id, 'archive');
    assert.equal(moved.data.id, target.id);
    const next = changesOf(await runDeltaRound(immutable, alex, { deltaLink: start.deltaLink }));
    assert.deepEqual(
      next.removed.map((removed) => removed.id),
      [target.id],
    );
  });

  test('an expired deltaLink is a restart outcome carrying Graph’s evidence', async () => {
    const saved = emulator.ctx.settings.delta.changeLogLimit;
    try {
      emulator.ctx.settings.delta.changeLogLimit = 2;
      for (let i = 0; i < 6; i++) await leeSends(`Flood ${i}`);
      const round = await runDeltaRound(client, alex, { deltaLink: inboxLink });
      assert.equal(round.kind, 'restart');
      if (round.kind === 'restart') {
        assert.equal(round.evidence.httpStatus, 410);
        assert.equal(round.evidence.graphCode, 'SyncStateNotFound');
      }
    } finally {
      emulator.ctx.settings.delta.changeLogLimit = saved;
    }
    // And a restart is a full sync again.
    const full = changesOf(await runDeltaRound(client, alex, { folder: 'inbox' }));
    assert.ok(full.changed.some((message) => message.subject === 'Flood 5'));
    const listed = valuesOf(await callGraph(emulator.url, alex, 'GET', '/me/mailFolders/inbox/messages?$top=100'));
    assert.equal(full.changed.length, listed.length);
  });
});
