import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEmulator } from '../../emulator/index.js';
import { restoreSnapshot, takeSnapshot } from '../../emulator/snapshot.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, type GraphAnswer, mintGraphToken, valuesOf } from '../support/graph-token.js';

/** Delta queries on mail folders (emulator/graph/delta-routes.ts), over real HTTP. */
describe('emulator Graph: messages/delta', () => {
  let emulator: SeededEmulator;
  let alex: string;
  let lee: string;
  before(async () => {
    emulator = await startSeededEmulator({ seed: 'delta-seed' });
    // Placement is not what these tests are about: everything lands in the Inbox.
    emulator.ctx.settings.delivery.junkBase = 0;
    alex = mintGraphToken(emulator.ctx, emulator.seed.users.personal);
    const leeUser = Object.values(emulator.ctx.world.users).find((user) => user.email === 'lee@fabrikam.com')!;
    lee = mintGraphToken(emulator.ctx, leeUser);
  });
  after(() => emulator.close());

  const sendToAlex = async (subject: string) => {
    const sent = await callGraph(emulator.url, lee, 'POST', '/me/sendMail', {
      message: {
        subject,
        body: { contentType: 'Text', content: subject },
        toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }],
      },
    });
    assert.equal(sent.status, 202);
    emulator.ctx.clock.advance(5);
  };
  const pageSize = (size: number) => ({ prefer: `odata.maxpagesize=${size}` });

  /** Follows a round to its deltaLink; returns every page's answer. */
  async function round(first: string, headers: Record<string, string> = {}) {
    const pages: GraphAnswer[] = [];
    let link: string | undefined = first;
    while (link) {
      const answer = await callGraph(emulator.url, alex, 'GET', link, undefined, headers);
      assert.equal(answer.status, 200, answer.text);
      pages.push(answer);
      link = answer.body?.['@odata.nextLink'] as string | undefined;
      if (!link) assert.equal(typeof answer.body?.['@odata.deltaLink'], 'string');
    }
    const items = pages.flatMap((page) => valuesOf(page));
    const deltaLink = String(pages.at(-1)!.body?.['@odata.deltaLink']);
    return { pages, items, deltaLink };
  }

  let inboxDelta = '';
  let archiveDelta = '';
  const subjects = ['One', 'Two', 'Three', 'Four', 'Five'];

  it('pages an initial sync with nextLinks, then ends the round with a deltaLink, honouring $select', async () => {
    for (const subject of subjects) await sendToAlex(subject);
    const { pages, items, deltaLink } = await round(
      '/me/mailFolders/inbox/messages/delta?$select=subject,isRead',
      pageSize(2),
    );
    assert.deepEqual(
      pages.map((page) => valuesOf(page).length),
      [2, 2, 1],
    );
    assert.match(String(pages[0]!.body?.['@odata.nextLink']), /\/messages\/delta\?\$skiptoken=/);
    assert.match(deltaLink, /\/messages\/delta\?\$deltatoken=/);
    assert.deepEqual(items.map((item) => item.subject).sort(), [...subjects].sort());
    for (const item of items) {
      assert.equal(item['@odata.type'], '#microsoft.graph.message');
      assert.deepEqual(Object.keys(item).sort(), ['@odata.etag', '@odata.type', 'id', 'isRead', 'subject']);
    }
    inboxDelta = deltaLink;
    archiveDelta = (await round('/me/mailFolders/archive/messages/delta')).deltaLink;
    // A round with nothing new answers an empty page and a deltaLink.
    const quiet = await round(inboxDelta);
    assert.equal(quiet.items.length, 0);
    inboxDelta = quiet.deltaLink;
  });

  it('reports only new mail, a read change, a move and a delete in the next round, and the move in the target', async () => {
    const before = valuesOf(await callGraph(emulator.url, alex, 'GET', '/me/mailFolders/inbox/messages?$top=50'));
    const bySubject = (subject: string) => String(before.find((message) => message.subject === subject)!.id);
    await sendToAlex('Six');
    assert.equal(
      (await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${bySubject('Two')}`, { isRead: true })).status,
      200,
    );
    const moved = await callGraph(emulator.url, alex, 'POST', `/me/messages/${bySubject('Three')}/move`, {
      destinationId: 'archive',
    });
    assert.equal(moved.status, 201);
    assert.equal((await callGraph(emulator.url, alex, 'DELETE', `/me/messages/${bySubject('Four')}`)).status, 204);
    // Changes elsewhere do not show in the Inbox's delta.
    assert.equal((await callGraph(emulator.url, alex, 'POST', '/me/messages', { subject: 'A draft' })).status, 201);

    const next = await round(inboxDelta);
    const changed = next.items.filter((item) => !item['@removed']);
    const removed = next.items.filter((item) => item['@removed']);
    assert.deepEqual(changed.map((item) => item.subject).sort(), ['Six', 'Two']);
    assert.equal(changed.find((item) => item.subject === 'Two')!.isRead, true);
    assert.deepEqual(Object.keys(changed[0]!).sort(), ['@odata.etag', '@odata.type', 'id', 'isRead', 'subject']);
    assert.deepEqual(removed.map((item) => item.id).sort(), [bySubject('Three'), bySubject('Four')].sort());
    for (const item of removed) assert.deepEqual(item['@removed'], { reason: 'deleted' });
    inboxDelta = next.deltaLink;

    const target = await round(archiveDelta);
    assert.deepEqual(
      target.items.map((item) => [item.id, item.subject]),
      [[moved.body?.id, 'Three']],
    );
    assert.equal((await round(inboxDelta)).items.length, 0);
  });

  it('answers 410 SyncStateNotFound for an expired or foreign state token, so clients restart', async () => {
    const saved = emulator.ctx.settings.delta.changeLogLimit;
    try {
      emulator.ctx.settings.delta.changeLogLimit = 4;
      const stale = (await round('/me/mailFolders/inbox/messages/delta')).deltaLink;
      for (let i = 0; i < 8; i++) await sendToAlex(`Flood ${i}`);
      const expired = await callGraph(emulator.url, alex, 'GET', stale);
      assert.equal(expired.status, 410);
      assert.equal(errorOf(expired).code, 'SyncStateNotFound');
    } finally {
      emulator.ctx.settings.delta.changeLogLimit = saved;
    }
    const garbage = await callGraph(
      emulator.url,
      alex,
      'GET',
      '/me/mailFolders/inbox/messages/delta?$deltatoken=bm9wZQ',
    );
    assert.equal(garbage.status, 410);
    assert.equal(errorOf(garbage).code, 'SyncStateNotFound');
    // A token of one folder does not read another.
    const inboxToken = new URL(inboxDelta).search;
    const crossed = await callGraph(emulator.url, alex, 'GET', `/me/mailFolders/junkemail/messages/delta${inboxToken}`);
    assert.equal(crossed.status, 410);
  });

  it('accepts only receivedDateTime ge/gt filters and receivedDateTime desc order, and no $search', async () => {
    const cutoff = new Date(emulator.ctx.clock.now()).toISOString();
    await sendToAlex('After the cutoff');
    const filtered = await round(
      `/me/mailFolders/inbox/messages/delta?$filter=${encodeURIComponent(`receivedDateTime ge ${cutoff}`)}&$orderby=receivedDateTime desc`,
    );
    assert.deepEqual(
      filtered.items.map((item) => item.subject),
      ['After the cutoff'],
    );
    for (const query of [`$filter=${encodeURIComponent("subject eq 'x'")}`, '$search=hello', '$orderby=subject']) {
      const answer = await callGraph(emulator.url, alex, 'GET', `/me/mailFolders/inbox/messages/delta?${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(errorOf(answer).code, 'BadRequest');
    }
  });

  it('reports a message moved out and back in as the old id removed and the new id present', async () => {
    const start = await round('/me/mailFolders/inbox/messages/delta?$select=subject');
    const target = start.items.find((item) => item.subject === 'One')!;
    const out = await callGraph(emulator.url, alex, 'POST', `/me/messages/${String(target.id)}/move`, {
      destinationId: 'archive',
    });
    const back = await callGraph(emulator.url, alex, 'POST', `/me/messages/${String(out.body?.id)}/move`, {
      destinationId: 'inbox',
    });
    assert.equal(back.status, 201);
    const next = await round(start.deltaLink);
    assert.deepEqual(
      next.items.map((item) => [item.id, item['@removed'] ? 'removed' : item.subject]),
      [
        [target.id, 'removed'],
        [back.body?.id, 'One'],
      ],
    );
  });

  it('keeps delta state across a snapshot: an old deltaLink reads the changes made after the restore', async () => {
    const link = (await round('/me/mailFolders/inbox/messages/delta')).deltaLink;
    const restored = await startEmulator({ ctx: restoreSnapshot(takeSnapshot(emulator.ctx)) });
    try {
      const token = mintGraphToken(restored.ctx, emulator.seed.users.personal);
      const leeAfter = mintGraphToken(
        restored.ctx,
        Object.values(restored.ctx.world.users).find((user) => user.email === 'lee@fabrikam.com')!,
      );
      const sent = await callGraph(restored.url, leeAfter, 'POST', '/me/sendMail', {
        message: { subject: 'After restore', toRecipients: [{ emailAddress: { address: 'alex@outlook.com' } }] },
      });
      assert.equal(sent.status, 202);
      const answer = await callGraph(
        restored.url,
        token,
        'GET',
        `/me/mailFolders/inbox/messages/delta${new URL(link).search}`,
      );
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(
        valuesOf(answer).map((item) => item.subject),
        ['After restore'],
      );
    } finally {
      await restored.close();
    }
  });
});
