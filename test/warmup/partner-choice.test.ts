import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  balanceHeadroom,
  choosePartners,
  exclusionReason,
  type PartnerCandidate,
  type PoolMember,
  partnerScore,
  type SenderHistory,
} from '../../src/warmup/partner-choice.js';
import { seededSource } from '../../src/warmup/seeded-random.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
const SENDER: PoolMember = { id: 'mbx_s', domain: 'contoso.com', organizationId: 'org_1', provider: 'microsoft365' };
const NO_HISTORY: SenderHistory = { sendsToPartner: new Map(), sendsToDomain: new Map() };

const candidate = (id: string, overrides: Partial<PartnerCandidate> = {}): PartnerCandidate => ({
  id,
  domain: `${id}.example`,
  organizationId: 'org_2',
  provider: 'microsoft365',
  status: 'active',
  receiveOnly: false,
  healthyDays: 10,
  receivedFromSenderToday: false,
  inboundToday: 0,
  targetToday: 10,
  inboundInWindow: 20,
  outboundInWindow: 20,
  ...overrides,
});

describe('partner choice (§C)', () => {
  const FILTERS: [string, Partial<PartnerCandidate>, boolean, string | null][] = [
    ['a healthy partner', {}, true, null],
    ['on watch still receives', { status: 'watch' }, true, null],
    ['on probation receives', { status: 'probation' }, true, null],
    ['throttled does not', { status: 'throttled' }, true, 'not_receiving'],
    ['quarantined does not', { status: 'quarantined' }, true, 'not_receiving'],
    ['paused does not', { status: 'paused' }, true, 'not_receiving'],
    ['the sender itself', { id: 'mbx_s' }, true, 'self'],
    ['same domain', { domain: 'contoso.com' }, true, 'same_domain'],
    ['same organisation in a cross-organisation pool', { organizationId: 'org_1' }, true, 'same_organization'],
    ['same organisation in a one-organisation pool', { organizationId: 'org_1' }, false, null],
    ['already received from the sender today', { receivedFromSenderToday: true }, true, 'already_received_today'],
    ['inbound 12 < 1.3 × 10', { inboundToday: 12 }, true, null],
    ['inbound exactly 1.3 × 10 is full', { inboundToday: 13 }, true, 'inbound_full_today'],
    ['a partner with T 0 takes nothing', { targetToday: 0 }, true, 'inbound_full_today'],
    ['inbound at the balance limit', { inboundInWindow: 30, outboundInWindow: 20 }, true, 'inbound_over_balance'],
    ['one below the balance limit', { inboundInWindow: 29, outboundInWindow: 20 }, true, null],
    [
      'receive-only is not held to the balance',
      { receiveOnly: true, inboundInWindow: 90, outboundInWindow: 0 },
      true,
      null,
    ],
  ];
  for (const [name, overrides, spans, expected] of FILTERS) {
    test(`filter: ${name}`, () =>
      assert.equal(exclusionReason(SENDER, candidate('mbx_p', overrides), spans, settings), expected));
  }

  const SCORES: [string, Partial<PartnerCandidate>, SenderHistory, number][] = [
    ['same provider, new pair', {}, NO_HISTORY, 0],
    ['different provider', { provider: 'outlook_com' }, NO_HISTORY, 20],
    ['established (31 healthy days)', { healthyDays: 31 }, NO_HISTORY, 10],
    ['exactly 30 healthy days is not yet established', { healthyDays: 30 }, NO_HISTORY, 0],
    ['pair used this week', {}, { sendsToPartner: new Map([['mbx_p', 3]]), sendsToDomain: new Map() }, -15],
    [
      'two sends to the domain in 72 h',
      {},
      { sendsToPartner: new Map(), sendsToDomain: new Map([['mbx_p.example', 2]]) },
      -20,
    ],
    [
      'everything at once',
      { provider: 'outlook_com', healthyDays: 40 },
      { sendsToPartner: new Map([['mbx_p', 1]]), sendsToDomain: new Map([['mbx_p.example', 1]]) },
      5,
    ],
  ];
  for (const [name, overrides, history, expected] of SCORES) {
    test(`score: ${name}`, () =>
      assert.equal(partnerScore(SENDER, candidate('mbx_p', overrides), history, settings), expected));
  }

  test('only the top 5 are ever drawn, the better score more often', () => {
    // Scores 30, 20, 20, 10, 10 (top 5) and 0, 0, 0 (never drawn).
    const candidates = [
      candidate('a', { provider: 'outlook_com', healthyDays: 40 }),
      candidate('b', { provider: 'outlook_com' }),
      candidate('c', { provider: 'outlook_com' }),
      candidate('d', { healthyDays: 40 }),
      candidate('e', { healthyDays: 40 }),
      candidate('f'),
      candidate('g'),
      candidate('h'),
    ];
    const counts = new Map<string, number>();
    const random = seededSource('top5');
    for (let i = 0; i < 4000; i++) {
      const choice = choosePartners(
        {
          sender: SENDER,
          candidates,
          history: NO_HISTORY,
          count: 1,
          poolSpansOrganizations: true,
          random,
        },
        settings,
      );
      const id = choice.partners[0]!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const never of ['f', 'g', 'h']) assert.equal(counts.get(never), undefined);
    // Weights 2^0, 2^-1, 2^-1, 2^-2, 2^-2: a is drawn ≈ 1/2.5 = 40% of the time, d ≈ 10%.
    assert.ok(counts.get('a')! > 1450 && counts.get('a')! < 1750, JSON.stringify([...counts]));
    assert.ok(counts.get('d')! > 300 && counts.get('d')! < 500, JSON.stringify([...counts]));
  });

  test('several picks are distinct and spread over domains', () => {
    const candidates = [
      ...['a1', 'a2', 'a3'].map((id) => candidate(id, { domain: 'fabrikam.com' })),
      ...['b1', 'b2', 'b3'].map((id) => candidate(id, { domain: 'tailspin.com' })),
      ...['c1', 'c2', 'c3'].map((id) => candidate(id, { domain: 'northwind.com' })),
    ];
    const choice = choosePartners(
      {
        sender: SENDER,
        candidates,
        history: NO_HISTORY,
        count: 3,
        poolSpansOrganizations: true,
        random: seededSource('d'),
      },
      settings,
    );
    assert.equal(new Set(choice.partners.map((p) => p.id)).size, 3);
    assert.equal(new Set(choice.partners.map((p) => p.domain)).size, 3, 'each pick lowers its domain by 10');
  });

  test('a pool smaller than the count, and a pool with nobody eligible', () => {
    const small = choosePartners(
      {
        sender: SENDER,
        candidates: [candidate('a'), candidate('b'), candidate('c', { status: 'blocked' })],
        history: NO_HISTORY,
        count: 5,
        poolSpansOrganizations: true,
        random: seededSource('s'),
      },
      settings,
    );
    assert.deepEqual(small.partners.map((p) => p.id).sort(), ['a', 'b']);
    assert.equal(small.unfilled, 3);
    assert.deepEqual(small.excluded, [{ id: 'c', reason: 'not_receiving' }]);
    const none = choosePartners(
      {
        sender: SENDER,
        candidates: [candidate('x', { domain: 'contoso.com' }), candidate('y', { receivedFromSenderToday: true })],
        history: NO_HISTORY,
        count: 2,
        poolSpansOrganizations: true,
        random: seededSource('s'),
      },
      settings,
    );
    assert.deepEqual(none.partners, []);
    assert.equal(none.unfilled, 2);
    assert.deepEqual(
      none.excluded.map((e) => e.reason),
      ['same_domain', 'already_received_today'],
    );
  });

  const BALANCE: [string, number, number, { send: number; receive: number }][] = [
    ['day one: the slack lets both start', 0, 0, { send: 4, receive: 4 }],
    ['even at 20/20', 20, 20, { send: 10, receive: 10 }],
    ['sent 30 for 20 received: at the limit', 20, 30, { send: 0, receive: 23 }],
    ['received 40 for 20 sent: over', 40, 20, { send: 36, receive: 0 }],
  ];
  for (const [name, inbound, outbound, expected] of BALANCE) {
    test(`balance headroom: ${name}`, () => assert.deepEqual(balanceHeadroom(inbound, outbound, settings), expected));
  }

  test('a pool run for 7 days keeps every sender within ±30% (plus the slack) of what it received', () => {
    const domains = ['contoso.com', 'fabrikam.com', 'tailspin.com', 'northwind.com'];
    const members = Array.from({ length: 16 }, (_, i) => ({
      id: `m${i}`,
      domain: domains[i % 4]!,
      organizationId: `org_${i % 3}`,
      provider: i % 2 === 0 ? ('microsoft365' as const) : ('outlook_com' as const),
      inbound: 0,
      outbound: 0,
    }));
    const random = seededSource('week');
    for (let day = 0; day < 7; day++) {
      const inboundToday = new Map<string, number>();
      for (const sender of members) {
        const target = 6 + (day % 3);
        const count = Math.min(target, balanceHeadroom(sender.inbound, sender.outbound, settings).send);
        const candidates = members.map((m) =>
          candidate(m.id, {
            domain: m.domain,
            organizationId: m.organizationId,
            provider: m.provider,
            inboundToday: inboundToday.get(m.id) ?? 0,
            targetToday: target,
            inboundInWindow: m.inbound,
            outboundInWindow: m.outbound,
          }),
        );
        const choice = choosePartners(
          { sender, candidates, history: NO_HISTORY, count, poolSpansOrganizations: true, random },
          settings,
        );
        for (const partner of choice.partners) {
          const receiver = members.find((m) => m.id === partner.id)!;
          receiver.inbound++;
          inboundToday.set(receiver.id, (inboundToday.get(receiver.id) ?? 0) + 1);
          assert.notEqual(receiver.domain, sender.domain);
          assert.notEqual(receiver.organizationId, sender.organizationId);
        }
        sender.outbound += choice.partners.length;
      }
    }
    for (const m of members) {
      assert.ok(m.outbound > 20, `${m.id} sent ${m.outbound}`);
      assert.ok(m.outbound <= 1.3 * m.inbound + 4 && m.inbound <= 1.3 * m.outbound + 4, JSON.stringify(m));
    }
  });
});
