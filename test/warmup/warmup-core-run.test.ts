/**
 * The pure core composed for a small pool over two weeks, without I/O: volume plan (§A) → partner choice with the
 * balance (§C) → slots (§B) → content (§D). It checks that the pieces fit and that a run under one seed is
 * reproducible, not the later engine (storage, Graph, scheduling), which does not exist yet.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planDailyVolume } from '../../src/warmup/daily-volume-plan.js';
import {
  addDays,
  isWeekend,
  type LocalDate,
  parseLocalDate,
  timeZoneOrThrow,
} from '../../src/warmup/mailbox-time-zone.js';
import {
  balanceHeadroom,
  choosePartners,
  exclusionReason,
  type PartnerCandidate,
} from '../../src/warmup/partner-choice.js';
import { keyedSource } from '../../src/warmup/seeded-random.js';
import { planSendSlots } from '../../src/warmup/send-slots.js';
import { composeWarmupMessage, mailboxVoice, planThread } from '../../src/warmup/warmup-content.js';
import { type WarmupProvider, warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const FIRST = parseLocalDate('2026-03-02')!; // a Monday
const ZONES = ['America/New_York', 'W. Europe Standard Time', 'Tokyo Standard Time'];

interface Send {
  from: string;
  to: string;
  date: LocalDate;
  at: number;
  subject: string;
  body: string;
}

function runPool(seed: string, days: number) {
  const mailboxes = Array.from({ length: 12 }, (_, i) => {
    const provider: WarmupProvider = i % 2 === 0 ? 'microsoft365' : 'outlook_com';
    const settings = warmupSettingsOrThrow(provider);
    return {
      id: `mbx_${i}`,
      domain: `d${i % 6}.example`,
      organizationId: `org_${i % 3}`,
      provider,
      settings,
      zone: timeZoneOrThrow(ZONES[i % 3]!),
      voice: mailboxVoice(seed, `mbx_${i}`, `Person${i}`),
      rampDay: 0,
    };
  });
  const sends: Send[] = [];
  const targets = new Map<string, number>();
  /** Sends per `${mailbox}:${'from' | 'to'}:${date}`. */
  const daily = new Map<string, number>();
  for (let d = 0; d < days; d++) {
    const date = addDays(FIRST, d);
    const window = Array.from({ length: 7 }, (_, back) => addDays(date, -back));
    const inboundToday = new Map<string, number>();
    const receivedToday = new Set<string>();
    const plans = new Map(
      mailboxes.map((m) => {
        if (!isWeekend(date)) m.rampDay++;
        const plan = planDailyVolume(
          {
            seed,
            mailboxId: m.id,
            date,
            ramp: { day: Math.max(1, m.rampDay), from: m.settings.volume.start },
            status: 'active',
            accountAgeDays: 400,
            eligiblePartners: mailboxes.length - 1,
            campaignSentToday: 0,
          },
          m.settings,
        );
        targets.set(`${m.id}:${date}`, plan.target);
        return [m.id, plan.target] as const;
      }),
    );
    for (const sender of mailboxes) {
      // The 7-day window up to now, today's sends included.
      const count = (id: string, side: 'from' | 'to') => {
        let total = 0;
        for (const day of window) total += daily.get(`${id}:${side}:${day}`) ?? 0;
        return total;
      };
      const candidates: PartnerCandidate[] = mailboxes.map((m) => ({
        ...m,
        status: 'active',
        receiveOnly: false,
        healthyDays: 5,
        receivedFromSenderToday: receivedToday.has(`${sender.id}>${m.id}`),
        inboundToday: inboundToday.get(m.id) ?? 0,
        targetToday: Math.max(plans.get(m.id)!, m.settings.volume.start),
        inboundInWindow: count(m.id, 'to'),
        outboundInWindow: count(m.id, 'from'),
      }));
      const eligible = candidates.filter((c) => exclusionReason(sender, c, true, sender.settings) === null).length;
      const headroom = balanceHeadroom(count(sender.id, 'to'), count(sender.id, 'from'), sender.settings).send;
      const wanted = Math.min(plans.get(sender.id)!, headroom, eligible);
      const random = keyedSource(seed, 'day', sender.id, date);
      const { partners } = choosePartners(
        {
          sender,
          candidates,
          history: { sendsToPartner: new Map(), sendsToDomain: new Map() },
          count: wanted,
          poolSpansOrganizations: true,
          random,
        },
        sender.settings,
      );
      const { slots } = planSendSlots({ count: partners.length, date, zone: sender.zone, random }, sender.settings);
      partners.forEach((partner, i) => {
        const thread = planThread(random, sender.settings);
        const message = composeWarmupMessage(
          { voice: sender.voice, recipientName: partner.id, thread, turn: 0, random },
          sender.settings,
        );
        sends.push({
          from: sender.id,
          to: partner.id,
          date,
          at: slots[i]!,
          subject: message.subject,
          body: message.body,
        });
        inboundToday.set(partner.id, (inboundToday.get(partner.id) ?? 0) + 1);
        for (const key of [`${sender.id}:from:${date}`, `${partner.id}:to:${date}`])
          daily.set(key, (daily.get(key) ?? 0) + 1);
        receivedToday.add(`${sender.id}>${partner.id}`);
      });
    }
  }
  return { sends, targets, mailboxes };
}

describe('the pure core over a pool', () => {
  test('12 mailboxes, 14 days: reproducible, within plan and balance, never within a domain or organisation', () => {
    const run = runPool('pool', 14);
    assert.deepEqual(runPool('pool', 14).sends, run.sends, 'the same seed gives the same run');
    const other = runPool('other', 3).sends;
    assert.notDeepEqual(other, run.sends.slice(0, other.length), 'another seed, another run');
    const byId = new Map(run.mailboxes.map((m) => [m.id, m]));
    const perDay = new Map<string, number>();
    for (const send of run.sends)
      perDay.set(`${send.from}:${send.date}`, (perDay.get(`${send.from}:${send.date}`) ?? 0) + 1);
    for (const [key, sent] of perDay) assert.ok(sent <= run.targets.get(key)!, `${key}: ${sent} > target`);
    for (const send of run.sends) {
      const from = byId.get(send.from)!;
      const to = byId.get(send.to)!;
      assert.notEqual(from.domain, to.domain);
      assert.notEqual(from.organizationId, to.organizationId);
      assert.ok(!isWeekend(send.date), 'weekends are off by default');
    }
    // Day 1 of the ramp: Microsoft 365 mailboxes send at most 4, Outlook.com ones at most 2.
    for (const m of run.mailboxes) {
      assert.ok((perDay.get(`${m.id}:${FIRST}`) ?? 0) <= m.settings.volume.start);
      assert.ok((perDay.get(`${m.id}:${FIRST}`) ?? 0) >= 1, `${m.id} sent on day one`);
    }
    // The last 7 days: every mailbox's in and out within ±30% plus the slack.
    const lastWeek = run.sends.filter((s) => s.date > addDays(FIRST, 6));
    for (const m of run.mailboxes) {
      const out = lastWeek.filter((s) => s.from === m.id).length;
      const inbound = lastWeek.filter((s) => s.to === m.id).length;
      assert.ok(out > 0 && inbound > 0, m.id);
      assert.ok(out <= 1.3 * inbound + 4 && inbound <= 1.3 * out + 4, `${m.id}: in ${inbound}, out ${out}`);
    }
    const bodies = new Set(run.sends.map((s) => `${s.date}:${s.body}`));
    assert.equal(bodies.size, run.sends.length, 'no body repeats on a day');
  });
});
