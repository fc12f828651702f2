import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { isJunkVerdict, junkProbability } from '../../emulator/graph/delivery.js';
import { addTenant, addUser } from '../../emulator/state/builders.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken, valuesOf } from '../support/graph-token.js';

type Placement = { address: string; outcome: string };

/** Sends the same warm-up messages (fixed internetMessageIds) in a given order; returns placements by message. */
async function sendFixedMessages(emulator: SeededEmulator, order: number[]): Promise<Record<string, Placement[]>> {
  const megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
  const placements: Record<string, Placement[]> = {};
  for (const i of order) {
    const internetMessageId = `<warmup-${i}@determinism.test>`;
    const draft = await callGraph(emulator.url, megan, 'POST', '/me/messages', {
      subject: `Note ${i}`,
      internetMessageId,
      toRecipients: [
        { emailAddress: { address: 'alex@outlook.com' } },
        { emailAddress: { address: 'lee@fabrikam.com' } },
      ],
    });
    assert.equal(draft.status, 201);
    assert.equal(
      (await callGraph(emulator.url, megan, 'POST', `/me/messages/${String(draft.body?.id)}/send`)).status,
      202,
    );
    emulator.ctx.clock.advance(5);
    const record = emulator.ctx.world.deliveries.at(-1)!;
    assert.equal(record.internetMessageId, internetMessageId);
    placements[internetMessageId] = [...record.placements].sort((a, b) => a.address.localeCompare(b.address));
  }
  return placements;
}

describe('emulator Graph delivery: junk filter determinism', () => {
  it('gives the same verdicts under the same seed whatever the send order, and others under another seed', async () => {
    const order = Array.from({ length: 20 }, (_, i) => i);
    const a = await startSeededEmulator({ seed: 'junk-seed' });
    const b = await startSeededEmulator({ seed: 'junk-seed' });
    const c = await startSeededEmulator({ seed: 'other-seed' });
    try {
      const first = await sendFixedMessages(a, order);
      const second = await sendFixedMessages(b, [...order].reverse());
      const third = await sendFixedMessages(c, order);
      assert.deepEqual(second, first);
      assert.notDeepEqual(third, first);
      const outcomes = Object.values(first)
        .flat()
        .map((placement) => placement.outcome);
      assert.ok(outcomes.includes('inbox') && outcomes.includes('junkemail'), outcomes.join(','));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});

describe('emulator Graph delivery: placement, rules, bounces, the outside world, reputation', () => {
  let emulator: SeededEmulator;
  let megan: string;
  let alex: string;
  const saved = { junkBase: 0 };
  before(async () => {
    emulator = await startSeededEmulator();
    megan = mintGraphToken(emulator.ctx, emulator.seed.users.work);
    alex = mintGraphToken(emulator.ctx, emulator.seed.users.personal);
    saved.junkBase = emulator.ctx.settings.delivery.junkBase;
  });
  afterEach(() => {
    emulator.ctx.settings.delivery.junkBase = saved.junkBase;
    for (const mailbox of Object.values(emulator.ctx.world.mailboxes)) mailbox.reputation = 0.5;
    // Keep the sending limits out of the way of these tests.
    emulator.ctx.clock.advance(120);
  });
  after(() => emulator.close());

  const meganReputation = () => emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!.reputation;
  const setMeganReputation = (value: number) => {
    emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!.reputation = value;
  };
  const sendFromMegan = (subject: string, to: string[], extra: Record<string, unknown> = {}) =>
    callGraph(emulator.url, megan, 'POST', '/me/sendMail', {
      message: {
        subject,
        body: { contentType: 'Text', content: `Body of ${subject}` },
        toRecipients: to.map((address) => ({ emailAddress: { address } })),
        ...extra,
      },
    });
  const findIn = async (token: string, folder: string, subject: string) =>
    valuesOf(
      await callGraph(
        emulator.url,
        token,
        'GET',
        `/me/mailFolders/${folder}/messages?$filter=${encodeURIComponent(`subject eq '${subject}'`)}`,
      ),
    );

  it('models pJunk = junkBase × (1 − reputation), clamped', () => {
    assert.equal(junkProbability(emulator.ctx, 0.5), 0.3);
    assert.equal(junkProbability(emulator.ctx, 1), 0);
    assert.ok(Math.abs(junkProbability(emulator.ctx, 0) - 0.6) < 1e-9);
    emulator.ctx.settings.delivery.junkBase = 5;
    assert.equal(junkProbability(emulator.ctx, 0), 1);
    assert.equal(isJunkVerdict(emulator.ctx, '<x@y>', 'alex@outlook.com', 0), true);
  });

  it('files a trusted sender in the Inbox and an untrusted one in Junk Email', async () => {
    setMeganReputation(1);
    assert.equal((await sendFromMegan('Trusted', ['alex@outlook.com'])).status, 202);
    assert.equal(emulator.ctx.world.deliveries.at(-1)!.placements[0]?.outcome, 'inbox');
    assert.equal((await findIn(alex, 'inbox', 'Trusted')).length, 1);
    emulator.ctx.settings.delivery.junkBase = 1;
    setMeganReputation(0);
    assert.equal((await sendFromMegan('Untrusted', ['alex@outlook.com'])).status, 202);
    assert.equal(emulator.ctx.world.deliveries.at(-1)!.placements[0]?.outcome, 'junkemail');
    assert.equal((await findIn(alex, 'junkemail', 'Untrusted')).length, 1);
    assert.equal((await findIn(alex, 'inbox', 'Untrusted')).length, 0);
  });

  it('never junks mail inside one organisation', async () => {
    emulator.ctx.settings.delivery.junkBase = 1;
    setMeganReputation(0);
    assert.equal((await sendFromMegan('Internal', ['adele@contoso.com'])).status, 202);
    assert.deepEqual(emulator.ctx.world.deliveries.at(-1)!.placements, [
      { address: 'adele@contoso.com', outcome: 'inbox' },
    ]);
  });

  it('puts roughly pJunk of a sender’s mail in Junk at a middling reputation', async () => {
    let junk = 0;
    for (let i = 0; i < 40; i++) {
      assert.equal((await sendFromMegan(`Batch ${i}`, ['lee@fabrikam.com'])).status, 202);
      if (emulator.ctx.world.deliveries.at(-1)!.placements[0]?.outcome === 'junkemail') junk++;
      emulator.ctx.clock.advance(3);
    }
    assert.ok(junk >= 4 && junk <= 22, `junk ${junk} of 40 at pJunk 0.3`);
  });

  it('manages Inbox rules over Graph (201 with id, hasError, isReadOnly; list, get, patch, delete)', async () => {
    const created = await callGraph(emulator.url, alex, 'POST', '/me/mailFolders/inbox/messageRules', {
      displayName: 'Flag invoices',
      sequence: 5,
      isEnabled: true,
      conditions: { subjectContains: ['invoice'] },
      actions: { markImportance: 'high' },
    });
    assert.equal(created.status, 201);
    assert.equal(typeof created.body?.id, 'string');
    assert.equal(created.body?.hasError, false);
    assert.equal(created.body?.isReadOnly, false);
    const id = String(created.body?.id);
    const path = `/me/mailFolders/inbox/messageRules/${id}`;
    assert.equal((await callGraph(emulator.url, alex, 'GET', path)).body?.displayName, 'Flag invoices');
    const patched = await callGraph(emulator.url, alex, 'PATCH', path, { displayName: 'Invoices', isEnabled: false });
    assert.equal(patched.status, 200);
    assert.equal(patched.body?.isEnabled, false);
    assert.equal(patched.body?.sequence, 5);
    const list = await callGraph(emulator.url, alex, 'GET', '/me/mailFolders/inbox/messageRules');
    assert.ok(valuesOf(list).some((rule) => rule.id === id));
    assert.equal((await callGraph(emulator.url, alex, 'DELETE', path)).status, 204);
    assert.equal((await callGraph(emulator.url, alex, 'GET', path)).status, 404);
    const unknown = await callGraph(emulator.url, alex, 'POST', '/me/mailFolders/inbox/messageRules', {
      displayName: 'x',
      sequence: 1,
      conditions: { moonPhase: ['full'] },
      actions: { markAsRead: true },
    });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).code, 'RequestBodyRead');
    assert.equal((await callGraph(emulator.url, alex, 'GET', '/me/mailFolders/drafts/messageRules')).status, 404);
  });

  it('applies Inbox rules in sequence order on delivery, but not to mail caught as junk', async () => {
    const folder = await callGraph(emulator.url, alex, 'POST', '/me/mailFolders', { displayName: 'Warm-up' });
    const folderId = String(folder.body?.id);
    const rule = (body: Record<string, unknown>) =>
      callGraph(emulator.url, alex, 'POST', '/me/mailFolders/inbox/messageRules', body);
    assert.equal(
      (
        await rule({
          displayName: 'Never reached',
          sequence: 2,
          conditions: { subjectContains: ['[wu]'] },
          actions: { markImportance: 'high' },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await rule({
          displayName: 'Warm-up filing',
          sequence: 1,
          conditions: { subjectContains: ['[wu]'], senderContains: ['megan'] },
          actions: { moveToFolder: folderId, markAsRead: true, stopProcessingRules: true },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await rule({
          displayName: 'Header tag',
          sequence: 3,
          conditions: { headerContains: ['x-tag: blue'] },
          exceptions: { bodyContains: ['skip me'] },
          actions: { assignCategories: ['Blue'] },
        })
      ).status,
      201,
    );

    setMeganReputation(1);
    assert.equal((await sendFromMegan('[wu] hello', ['alex@outlook.com'])).status, 202);
    assert.deepEqual(emulator.ctx.world.deliveries.at(-1)!.placements, [
      { address: 'alex@outlook.com', outcome: 'folder' },
    ]);
    const filed = await findIn(alex, folderId, '[wu] hello');
    assert.equal(filed.length, 1);
    assert.equal(filed[0]?.isRead, true);
    assert.equal(filed[0]?.importance, 'normal', 'stopProcessingRules kept the later rule away');

    const tag = { internetMessageHeaders: [{ name: 'X-Tag', value: 'blue' }] };
    assert.equal((await sendFromMegan('tagged', ['alex@outlook.com'], tag)).status, 202);
    assert.deepEqual((await findIn(alex, 'inbox', 'tagged'))[0]?.categories, ['Blue']);
    assert.equal(
      (
        await sendFromMegan('tagged but skip me', ['alex@outlook.com'], {
          ...tag,
          body: { contentType: 'Text', content: 'skip me' },
        })
      ).status,
      202,
    );
    assert.deepEqual((await findIn(alex, 'inbox', 'tagged but skip me'))[0]?.categories, []);

    emulator.ctx.settings.delivery.junkBase = 1;
    setMeganReputation(0);
    assert.equal((await sendFromMegan('[wu] caught', ['alex@outlook.com'])).status, 202);
    assert.equal(emulator.ctx.world.deliveries.at(-1)!.placements[0]?.outcome, 'junkemail');
    const caught = await findIn(alex, 'junkemail', '[wu] caught');
    assert.equal(caught.length, 1);
    assert.equal(caught[0]?.isRead, false);
  });

  it('bounces unknown recipients of emulated domains with a non-delivery report in the sender’s Inbox', async () => {
    const before = emulator.ctx.world.deliveries.length;
    assert.equal((await sendFromMegan('Hello ghost', ['ghost@contoso.com', 'nobody@outlook.com'])).status, 202);
    assert.equal(emulator.ctx.world.deliveries.length, before + 1);
    assert.deepEqual(emulator.ctx.world.deliveries.at(-1)!.placements, [
      { address: 'ghost@contoso.com', outcome: 'ndr', status: '5.1.10' },
      { address: 'nobody@outlook.com', outcome: 'ndr', status: '5.1.10' },
    ]);
    const reports = await findIn(megan, 'inbox', 'Undeliverable: Hello ghost');
    assert.equal(reports.length, 1, 'one report for the whole message');
    const report = reports[0]!;
    // Exchange Online's system mailbox sends NDRs (docs/graph.md §3.5).
    assert.deepEqual((report.from as { emailAddress: unknown }).emailAddress, {
      name: 'Microsoft Outlook',
      address: 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com',
    });
    const text = await callGraph(
      emulator.url,
      megan,
      'GET',
      `/me/messages/${String(report.id)}?$select=body`,
      undefined,
      {
        prefer: 'outlook.body-content-type="text"',
      },
    );
    const content = String((text.body?.body as { content?: string } | undefined)?.content);
    assert.match(content, /550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound/);
    assert.match(content, /ghost@contoso\.com/);
    assert.ok(content.includes(emulator.ctx.world.deliveries.at(-1)!.internetMessageId));
  });

  it('hands mail for other domains to the outside sink, bcc included, exactly once', async () => {
    const before = emulator.ctx.world.outside.length;
    const answer = await sendFromMegan('Out there', ['friend@example.org'], {
      ccRecipients: [{ emailAddress: { address: 'adele@contoso.com' } }],
      bccRecipients: [{ emailAddress: { address: 'hidden@example.net' } }],
    });
    assert.equal(answer.status, 202);
    assert.equal(emulator.ctx.world.outside.length, before + 1);
    const out = emulator.ctx.world.outside.at(-1)!;
    assert.equal(out.from, 'megan@contoso.com');
    assert.deepEqual(out.to, ['friend@example.org']);
    assert.deepEqual(out.cc, ['adele@contoso.com']);
    assert.deepEqual(out.bcc, ['hidden@example.net']);
    assert.deepEqual(out.envelopeTo, ['friend@example.org', 'hidden@example.net']);
    assert.equal(out.via, 'sendMail');
    assert.equal(out.subject, 'Out there');
    assert.deepEqual(emulator.ctx.world.deliveries.at(-1)!.placements, [
      { address: 'friend@example.org', outcome: 'outside' },
      { address: 'adele@contoso.com', outcome: 'inbox' },
      { address: 'hidden@example.net', outcome: 'outside' },
    ]);
  });

  it('delivers to users and tenants added after mail has already flowed', async () => {
    assert.equal((await sendFromMegan('Before', ['late@contoso.com', 'someone@newcorp.example'])).status, 202);
    assert.deepEqual(
      emulator.ctx.world.deliveries.at(-1)!.placements.map((placement) => placement.outcome),
      ['ndr', 'outside'],
    );
    const late = addUser(emulator.ctx, {
      email: 'late@contoso.com',
      password: 'x',
      tenantId: emulator.seed.users.work.tenantId,
    });
    const newcorp = addTenant(emulator.ctx, { displayName: 'New Corp', domains: ['newcorp.example'] });
    addUser(emulator.ctx, { email: 'someone@newcorp.example', password: 'x', tenantId: newcorp.id });
    setMeganReputation(1);
    assert.equal(
      (await sendFromMegan('After', ['late@contoso.com', 'someone@newcorp.example', 'ghost@newcorp.example'])).status,
      202,
    );
    assert.deepEqual(
      emulator.ctx.world.deliveries.at(-1)!.placements.map((placement) => placement.outcome),
      ['inbox', 'inbox', 'ndr'],
    );
    assert.equal((await findIn(mintGraphToken(emulator.ctx, late), 'inbox', 'After')).length, 1);
  });

  it('raises the sender’s reputation when a recipient rescues, replies, flags, marks mail important or reads it', async () => {
    emulator.ctx.settings.delivery.junkBase = 1;
    setMeganReputation(0);
    // A sender of fewer than 20 a day, whose engagement counts in full (emulator/README.md, Reputation model): the
    // earlier tests' sends are forgotten.
    delete emulator.ctx.world.mailboxes[emulator.seed.users.work.id]!.reputationState;
    assert.equal((await sendFromMegan('Rescue me', ['alex@outlook.com'])).status, 202);
    const [inJunk] = await findIn(alex, 'junkemail', 'Rescue me');
    assert.ok(inJunk);
    const gains = emulator.ctx.settings.delivery.reputationGain;

    const moveTo = (id: string, destinationId: string) =>
      callGraph(emulator.url, alex, 'POST', `/me/messages/${id}/move`, { destinationId });
    const rescued = await moveTo(String(inJunk.id), 'inbox');
    assert.equal(rescued.status, 201);
    assert.ok(Math.abs(meganReputation() - gains.rescue) < 1e-9);
    // Moving it back and rescuing it again does not count twice.
    const back = await moveTo(String(rescued.body?.id), 'junkemail');
    await moveTo(String(back.body?.id), 'inbox');
    assert.ok(Math.abs(meganReputation() - gains.rescue) < 1e-9);

    let previous = meganReputation();
    const [inInbox] = await findIn(alex, 'inbox', 'Rescue me');
    assert.equal(
      (await callGraph(emulator.url, alex, 'POST', `/me/messages/${String(inInbox!.id)}/reply`, { comment: 'Thanks' }))
        .status,
      202,
    );
    assert.ok(meganReputation() > previous, 'reply');
    previous = meganReputation();
    await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${String(inInbox!.id)}`, {
      flag: { flagStatus: 'flagged' },
    });
    assert.ok(meganReputation() > previous, 'flag');
    previous = meganReputation();
    await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${String(inInbox!.id)}`, { importance: 'high' });
    assert.ok(meganReputation() > previous, 'important');
    previous = meganReputation();
    await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${String(inInbox!.id)}`, { isRead: true });
    assert.ok(Math.abs(meganReputation() - (previous + (gains.read ?? 0) * (1 - previous))) < 1e-9, 'read');
    previous = meganReputation();
    await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${String(inInbox!.id)}`, {
      importance: 'high',
      isRead: true,
    });
    assert.equal(meganReputation(), previous, 'each kind counts once per message');

    setMeganReputation(0.999);
    assert.equal((await sendFromMegan('Near the top', ['alex@outlook.com'])).status, 202);
    const [top] = [
      ...(await findIn(alex, 'inbox', 'Near the top')),
      ...(await findIn(alex, 'junkemail', 'Near the top')),
    ];
    await callGraph(emulator.url, alex, 'PATCH', `/me/messages/${String(top!.id)}`, {
      importance: 'high',
      flag: { flagStatus: 'flagged' },
    });
    assert.ok(meganReputation() <= 1);
  });

  it('does not count a move out of Junk to anywhere but the Inbox as a rescue', async () => {
    emulator.ctx.settings.delivery.junkBase = 1;
    setMeganReputation(0);
    assert.equal((await sendFromMegan('Archive me', ['alex@outlook.com'])).status, 202);
    const [inJunk] = await findIn(alex, 'junkemail', 'Archive me');
    await callGraph(emulator.url, alex, 'POST', `/me/messages/${String(inJunk!.id)}/move`, {
      destinationId: 'archive',
    });
    assert.equal(meganReputation(), 0);
  });
});
