import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultReputationSettings } from '../../emulator/graph/reputation.js';
import { addTenant, addUser } from '../../emulator/state/builders.js';
import type { User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, mintGraphToken, valuesOf } from '../support/graph-token.js';

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The reputation model (emulator/graph/reputation.ts) measured the way warm-up sees it: the share of a sender's
 * mail the junk filter puts in Junk Email, over many deliveries under a fixed seed, on the emulator's clock.
 */
describe('emulator reputation model: falls and recovers, measured as junk rate', () => {
  let emulator: SeededEmulator;
  let lee: User;
  const recipient = () => mintGraphToken(emulator.ctx, lee);
  let n = 0;
  before(async () => {
    emulator = await startSeededEmulator({ seed: 'reputation-seed' });
    addTenant(emulator.ctx, { displayName: 'Sender Corp', domains: ['sender.example'] });
    lee = Object.values(emulator.ctx.world.users).find((user) => user.email === 'lee@fabrikam.com')!;
  });
  after(() => emulator.close());

  const newSender = (kind: 'work' | 'personal'): User => {
    n += 1;
    const tenantId = Object.values(emulator.ctx.world.tenants).find((tenant) =>
      tenant.domains.includes('sender.example'),
    )!.id;
    return kind === 'personal'
      ? addUser(emulator.ctx, { email: `new${n}@outlook.com`, password: 'x', kind: 'personal' })
      : addUser(emulator.ctx, { email: `new${n}@sender.example`, password: 'x', tenantId });
  };
  const reputationOf = (user: User) => emulator.ctx.world.mailboxes[user.id]!.reputation;

  /** Sends `count` messages to lee@fabrikam.com, `gapSeconds` apart; returns the share placed in Junk Email. */
  async function junkRate(sender: User, count: number, gapSeconds: number, to = 'lee@fabrikam.com'): Promise<number> {
    let junk = 0;
    for (let i = 0; i < count; i++) {
      // Days pass on the emulator's clock: a fresh token per send, as a client would refresh.
      const token = mintGraphToken(emulator.ctx, sender);
      const answer = await callGraph(emulator.url, token, 'POST', '/me/sendMail', {
        message: { subject: `From ${sender.email} #${i}`, toRecipients: [{ emailAddress: { address: to } }] },
      });
      assert.equal(answer.status, 202, answer.text);
      if (emulator.ctx.world.deliveries.at(-1)!.placements[0]?.outcome === 'junkemail') junk++;
      emulator.ctx.clock.advance(gapSeconds);
    }
    return junk / count;
  }

  it('starts new Outlook.com senders lower than work senders', async (t) => {
    const personal = newSender('personal');
    const work = newSender('work');
    assert.equal(reputationOf(personal), defaultReputationSettings.initial.personal);
    assert.equal(reputationOf(work), defaultReputationSettings.initial.work);
    // 100 messages each, 30 minutes apart: under 50 a day (no spike) and never idle (no drift).
    const personalRate = await junkRate(personal, 100, 30 * MINUTE);
    const workRate = await junkRate(work, 100, 30 * MINUTE);
    const junkBase = emulator.ctx.settings.delivery.junkBase;
    assert.ok(Math.abs(personalRate - junkBase * (1 - 0.25)) < 0.12, `personal junk rate ${personalRate}`);
    assert.ok(Math.abs(workRate - junkBase * (1 - 0.5)) < 0.12, `work junk rate ${workRate}`);
    assert.ok(personalRate > workRate, `personal ${personalRate} vs work ${workRate}`);
    t.diagnostic(`junk rate over 100 deliveries: new Outlook.com sender ${personalRate}, new work sender ${workRate}`);
    assert.equal(reputationOf(personal), defaultReputationSettings.initial.personal, 'steady volume costs nothing');
  });

  it('falls under a volume spike far above the trailing week, and drifts back to neutral when idle', async (t) => {
    const sender = newSender('work');
    // A week of 20 messages a day.
    const history = await junkRate(sender, 140, DAY / 20);
    assert.equal(reputationOf(sender), 0.5);
    // Then 200 in one day: past max(50, 3 × 20) each message costs 2 %.
    emulator.ctx.clock.advance(DAY - ((emulator.ctx.clock.now() / 1000) % DAY) + 60);
    await junkRate(sender, 100, 3 * MINUTE);
    const spikeTail = await junkRate(sender, 100, 3 * MINUTE);
    const fallen = reputationOf(sender);
    assert.ok(fallen < 0.1, `reputation after the spike ${fallen}`);
    assert.ok(spikeTail > history + 0.15, `junk rate ${history} before, ${spikeTail} at the end of the spike`);

    // Thirty idle days: the distance to neutral halves every 7 idle days.
    emulator.ctx.clock.advance(30 * DAY);
    const recovered = await junkRate(sender, 40, 30 * MINUTE);
    const reputation = reputationOf(sender);
    assert.ok(reputation > 0.45 && reputation < 0.5, `reputation after 30 idle days ${reputation}`);
    assert.ok(recovered < spikeTail - 0.15, `junk rate ${recovered} after idling vs ${spikeTail} in the spike`);
    t.diagnostic(
      `junk rate: ${history} over a 20/day week, ${spikeTail} over the last 100 of a 200-message day ` +
        `(reputation ${fallen.toFixed(3)}), ${recovered} after 30 idle days (reputation ${reputation.toFixed(3)})`,
    );
  });

  it('costs the sender for each bounced recipient and each copy a recipient moves to Junk Email, once', async () => {
    const sender = newSender('work');
    const penalties = emulator.ctx.settings.delivery.reputation!;
    const before = reputationOf(sender);
    await junkRate(sender, 1, 5, 'nobody-here@fabrikam.com');
    assert.ok(Math.abs(reputationOf(sender) - before * (1 - penalties.bouncePenalty)) < 1e-12);

    emulator.ctx.settings.delivery.junkBase = 0;
    try {
      await junkRate(sender, 1, 5);
    } finally {
      emulator.ctx.settings.delivery.junkBase = 0.6;
    }
    const [copy] = valuesOf(
      await callGraph(
        emulator.url,
        recipient(),
        'GET',
        `/me/mailFolders/inbox/messages?$filter=${encodeURIComponent(`subject eq 'From ${sender.email} #0'`)}`,
      ),
    );
    assert.ok(copy, 'delivered to the Inbox');
    const beforeJunk = reputationOf(sender);
    const moved = await callGraph(emulator.url, recipient(), 'POST', `/me/messages/${String(copy.id)}/move`, {
      destinationId: 'junkemail',
    });
    assert.equal(moved.status, 201);
    assert.ok(Math.abs(reputationOf(sender) - beforeJunk * (1 - penalties.junkPenalty)) < 1e-12);
    const out = await callGraph(emulator.url, recipient(), 'POST', `/me/messages/${String(moved.body?.id)}/move`, {
      destinationId: 'archive',
    });
    await callGraph(emulator.url, recipient(), 'POST', `/me/messages/${String(out.body?.id)}/move`, {
      destinationId: 'junkemail',
    });
    assert.ok(Math.abs(reputationOf(sender) - beforeJunk * (1 - penalties.junkPenalty)) < 1e-12, 'once per copy');
  });

  it('takes every parameter through the control API, and refuses values out of range', async () => {
    const patch = async (body: unknown) =>
      fetch(`${emulator.url}/_emulator/settings`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const saved = structuredClone(emulator.ctx.settings.delivery.reputation!);
    try {
      const ok = await patch({ delivery: { reputation: { bouncePenalty: 0.5, initial: { personal: 0.1 } } } });
      assert.equal(ok.status, 200);
      const settings = (await ok.json()) as { delivery: { reputation: typeof saved } };
      assert.equal(settings.delivery.reputation.bouncePenalty, 0.5);
      assert.equal(settings.delivery.reputation.initial.personal, 0.1);
      assert.equal(settings.delivery.reputation.initial.work, saved.initial.work);
      assert.equal(reputationOf(newSender('personal')), 0.1);
      const bad = await patch({ delivery: { reputation: { junkPenalty: 2 } } });
      assert.equal(bad.status, 400);
      assert.equal(emulator.ctx.settings.delivery.reputation!.junkPenalty, saved.junkPenalty);
    } finally {
      emulator.ctx.settings.delivery.reputation = saved;
    }
  });
});
