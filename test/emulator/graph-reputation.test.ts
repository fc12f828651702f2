import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { currentReputation, defaultReputationSettings } from '../../emulator/graph/reputation.js';
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
    // 100 messages each, 75 minutes apart: at most 20 a UTC day (the established volume of a new sender) and never
    // idle (no drift).
    const personalRate = await junkRate(personal, 100, 75 * MINUTE);
    const workRate = await junkRate(work, 100, 75 * MINUTE);
    const junkBase = emulator.ctx.settings.delivery.junkBase;
    assert.ok(Math.abs(personalRate - junkBase * (1 - 0.25)) < 0.12, `personal junk rate ${personalRate}`);
    assert.ok(Math.abs(workRate - junkBase * (1 - 0.5)) < 0.12, `work junk rate ${workRate}`);
    assert.ok(personalRate > workRate, `personal ${personalRate} vs work ${workRate}`);
    t.diagnostic(`junk rate over 100 deliveries: new Outlook.com sender ${personalRate}, new work sender ${workRate}`);
    assert.equal(reputationOf(personal), defaultReputationSettings.initial.personal, 'steady volume costs nothing');
  });

  /** Moves the clock to `hours` past the next UTC midnight. */
  const toNextDay = (hours = 1) =>
    emulator.ctx.clock.advance(DAY - ((emulator.ctx.clock.now() / 1000) % DAY) + hours * HOUR);

  /**
   * One UTC day of `count` messages, 5 minutes apart, every second one to lee@fabrikam.com and the rest outside the
   * emulated world. Returns the junk filter's verdicts on lee's (1 for Junk Email).
   */
  async function sendDay(sender: User, count: number): Promise<number[]> {
    const verdicts: number[] = [];
    for (let i = 0; i < count; i++) {
      const toLee = i % 2 === 0;
      const junk = await junkRate(sender, 1, 5 * MINUTE, toLee ? 'lee@fabrikam.com' : `customer${i}@partner.example`);
      if (toLee) verdicts.push(junk);
    }
    return verdicts;
  }
  const mean = (list: number[]) => list.reduce((a, b) => a + b, 0) / list.length;

  it('costs nothing for a ramp as docs/warmup.md §A sends it, up to the user’s highest ceiling', async (t) => {
    const sender = newSender('work');
    // Six weeks of §A's ramp at the user's highest ceiling (40): +1 a day, weekdays only, the daily factor at its
    // highest (×1.1) except a light day (×0.6) each Tuesday, which makes the next day's the largest step up.
    let sent = 0;
    toNextDay();
    for (let day = 1; day <= 42; day++) {
      const weekday = (day - 1) % 7;
      if (weekday < 5) {
        const factor = weekday === 1 ? 0.6 : 1.1;
        const count = Math.min(40, Math.max(4, Math.round(Math.min(40, 3 + day) * factor)));
        await sendDay(sender, count);
        sent += count;
      }
      toNextDay();
    }
    assert.equal(reputationOf(sender), defaultReputationSettings.initial.work, 'not one message over its volume');
    t.diagnostic(`${sent} messages over six weeks of the ramp, reputation still ${reputationOf(sender)}`);
  });

  it('costs a sender that starts at 60 a day on each day until its history catches up, and again after idling', async (t) => {
    const sender = newSender('work');
    const { volumePenalty } = defaultReputationSettings;
    // Placement before: four days of 20 (the floor), then 15 quiet days, so that history is gone again.
    const before: number[] = [];
    for (let day = 1; day <= 4; day++) {
      toNextDay();
      before.push(...(await sendDay(sender, 20)));
    }
    emulator.ctx.clock.advance(15 * DAY);
    assert.equal(reputationOf(sender), defaultReputationSettings.initial.work);
    const perDay: number[] = [];
    const after: number[] = [];
    toNextDay();
    for (let day = 1; day <= 5; day++) {
      const start = reputationOf(sender);
      const verdicts = await sendDay(sender, 60);
      if (day >= 2) after.push(...verdicts);
      perDay.push(reputationOf(sender) / start);
      toNextDay();
    }
    // Over max(20, 3 × the average of the last 14 days): 40 on days 1 and 2 (3 × 60/14 = 12.9), 35 on day 3
    // (3 × 120/14 = 25.7), 22 on day 4 (38.6), 9 on day 5 (51.4): every day until the history has caught up.
    const paid = [40, 40, 35, 22, 9];
    for (const [i, n] of paid.entries()) {
      assert.ok(Math.abs(perDay[i]! - (1 - volumePenalty) ** n) < 1e-9, `day ${i + 1}: ×${perDay[i]}`);
    }
    assert.ok(mean(after) > mean(before) + 0.1, `junk rate ${mean(before)} before, ${mean(after)} on days 2–5`);

    // Fifteen idle days: the history is forgotten (idle drift brings reputation back toward neutral meanwhile), and
    // the next day of 60 costs as the first one did.
    const low = reputationOf(sender);
    emulator.ctx.clock.advance(15 * DAY);
    const rested = currentReputation(emulator.ctx, emulator.ctx.world.mailboxes[sender.id]!);
    assert.ok(rested > low && rested < 0.5, `${low} → ${rested}`);
    await sendDay(sender, 60);
    // (The emulator's clock runs on between the two reads: a few milliseconds of idle drift, hence the tolerance.)
    assert.ok(Math.abs(reputationOf(sender) / rested - (1 - volumePenalty) ** 40) < 1e-6, 'history forgotten');
    t.diagnostic(
      `reputation ×${perDay.map((f) => f.toFixed(3)).join(', ×')} on days 1–5; junk rate ${mean(before).toFixed(2)} ` +
        `at 20 a day, ${mean(after).toFixed(2)} on days 2–5; ${low.toFixed(3)} → ${rested.toFixed(3)} after 15 idle days`,
    );
  });

  it('drifts back to neutral when idle', async () => {
    const sender = newSender('work');
    const mailbox = emulator.ctx.world.mailboxes[sender.id]!;
    mailbox.reputation = 0.1;
    await junkRate(sender, 1, 60);
    // 31 days without a send: idle from `idleAfterHours` after the last send, the distance to neutral halving every
    // `idleHalfLifeDays` idle days.
    emulator.ctx.clock.advance(31 * DAY);
    const reputation = currentReputation(emulator.ctx, mailbox);
    const { idleAfterHours, idleHalfLifeDays } = defaultReputationSettings;
    const idleDays = 31 - idleAfterHours / 24;
    const expected = 0.5 - 0.4 * 0.5 ** (idleDays / idleHalfLifeDays);
    assert.ok(
      Math.abs(reputation - expected) < 1e-4,
      `reputation after ${idleDays} idle days ${reputation}, ${expected}`,
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

  it('weighs engagement by the sender’s volume: in full up to 20 a day, as a share of its mail above', async () => {
    const flagFirst = async (sender: User, subject: string) => {
      const [copy] = valuesOf(
        await callGraph(
          emulator.url,
          recipient(),
          'GET',
          `/me/messages?$filter=${encodeURIComponent(`subject eq '${subject}'`)}`,
        ),
      );
      assert.ok(copy, `delivered: ${subject}`);
      const before = reputationOf(sender);
      const flagged = await callGraph(emulator.url, recipient(), 'PATCH', `/me/messages/${String(copy.id)}`, {
        flag: { flagStatus: 'flagged' },
      });
      assert.equal(flagged.status, 200);
      return (reputationOf(sender) - before) / (1 - before);
    };
    const gain = emulator.ctx.settings.delivery.reputationGain.flag;
    const light = newSender('work');
    await junkRate(light, 20, 60);
    assert.ok(Math.abs((await flagFirst(light, `From ${light.email} #0`)) - gain) < 1e-9, 'a sender of 20 a day');
    const heavy = newSender('work');
    await junkRate(heavy, 60, 60);
    const share = await flagFirst(heavy, `From ${heavy.email} #0`);
    assert.ok(Math.abs(share - (gain * 20) / 60) < 1e-9, `a sender of 60 a day gains ${share}, a third of ${gain}`);
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
      const ok = await patch({
        delivery: { reputation: { bouncePenalty: 0.5, volumeHistoryDays: 28, initial: { personal: 0.1 } } },
      });
      assert.equal(ok.status, 200);
      const settings = (await ok.json()) as { delivery: { reputation: typeof saved } };
      assert.equal(settings.delivery.reputation.bouncePenalty, 0.5);
      assert.equal(settings.delivery.reputation.volumeHistoryDays, 28);
      assert.equal(settings.delivery.reputation.initial.personal, 0.1);
      assert.equal(settings.delivery.reputation.initial.work, saved.initial.work);
      assert.equal(reputationOf(newSender('personal')), 0.1);
      const bad = await patch({ delivery: { reputation: { junkPenalty: 2 } } });
      assert.equal(bad.status, 400);
      assert.equal((await patch({ delivery: { reputation: { volumeHistoryDays: 0 } } })).status, 400);
      assert.equal(emulator.ctx.settings.delivery.reputation!.junkPenalty, saved.junkPenalty);
    } finally {
      emulator.ctx.settings.delivery.reputation = saved;
    }
  });
});
