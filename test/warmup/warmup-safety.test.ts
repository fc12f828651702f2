import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  classifyBounce,
  evaluationVerdict,
  nextSafetyState,
  remediationFor,
  type SafetySignal,
  type SafetyState,
} from '../../src/warmup/warmup-safety.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 2, 1);
const AT = T0 + 10 * DAY;

const active: SafetyState = { status: 'active', since: T0 };
const watch: SafetyState = { status: 'watch', since: T0, reason: 'spam_placement' };
const probation: SafetyState = { status: 'probation', since: T0, until: AT + DAY };
const quarantined: SafetyState = { status: 'quarantined', since: T0, until: T0 + 7 * DAY, reason: 'spam_placement' };
const blocked: SafetyState = { status: 'blocked', since: T0, until: T0 + 30 * DAY, reason: 'spam_placement' };
const userPaused: SafetyState = { status: 'paused', since: T0, until: null, reason: 'user' };
const revoked: SafetyState = { status: 'paused', since: T0, until: null, reason: 'grant_revoked' };
const restricted: SafetyState = { status: 'paused', since: T0, until: null, reason: 'restricted_sender' };

/** An established sample over 30 days (§G), so the 7-day counts decide. */
const ESTABLISHED = 100;

/** Peers that say nothing (too few samples), so the mailbox's own counts decide. */
const NO_PEERS = { peerPlacementSamples: 0, peerInJunk: 0 };

const evaluation = (placementSamples: number, inJunk: number, sends = 0, senderBounces = 0): SafetySignal => ({
  kind: 'evaluation',
  at: AT,
  placementSamples,
  placementSamplesLong: ESTABLISHED,
  inJunk,
  sends,
  senderBounces,
  ...NO_PEERS,
});

describe('safety (§G)', () => {
  const BOUNCES: [string, ReturnType<typeof classifyBounce>][] = [
    ['5.1.8', 'restricted_sender'],
    ['5.7.1', 'restricted_sender'],
    ['5.7.708', 'restricted_sender'],
    ['5.1.1', 'recipient'],
    ['5.1.10', 'recipient'],
    ['5.2.2', 'recipient'],
    ['5.1.90', 'sender'],
    ['5.4.1', 'sender'],
    ['4.7.0', 'transient'],
    ['4.2.2', 'transient'],
    ['garbage', 'transient'],
  ];
  for (const [code, expected] of BOUNCES) {
    test(`bounce ${code} is ${expected}`, () => assert.equal(classifyBounce(code), expected));
  }

  const VERDICTS: [string, [number, number, number, number], string][] = [
    ['19 samples all in Junk say nothing', [19, 19, 0, 0], 'active'],
    ['9.9% spam', [1000, 99, 0, 0], 'active'],
    ['exactly 10% spam: watch', [20, 2, 0, 0], 'watch'],
    ['exactly 20% spam: quarantine', [20, 4, 0, 0], 'quarantined'],
    ['exactly 40% spam: block', [20, 8, 0, 0], 'blocked'],
    ['49 sends all bounced say nothing', [0, 0, 49, 49], 'active'],
    ['2.9% bounces', [0, 0, 1000, 29], 'active'],
    ['3 in 100 bounces: throttle', [0, 0, 100, 3], 'throttled'],
    ['5 in 100 bounces: quarantine', [0, 0, 100, 5], 'quarantined'],
    ['watch and throttle: the stronger wins', [20, 2, 100, 3], 'throttled'],
    ['block beats a bounce quarantine', [20, 8, 100, 5], 'blocked'],
  ];
  for (const [name, [samples, junk, sends, bounces], expected] of VERDICTS) {
    test(`verdict: ${name}`, () =>
      assert.equal(
        evaluationVerdict(
          {
            placementSamples: samples,
            placementSamplesLong: ESTABLISHED,
            inJunk: junk,
            sends,
            senderBounces: bounces,
            ...NO_PEERS,
          },
          settings,
        ).status,
        expected,
      ));
  }
  test('verdict: before an established sample (100 over 30 days) spam placement is judged only against peers; bounces still count', () => {
    const young = {
      placementSamples: 60,
      placementSamplesLong: 99,
      inJunk: 30,
      sends: 100,
      senderBounces: 0,
      ...NO_PEERS,
    };
    assert.equal(evaluationVerdict(young, settings).status, 'active');
    assert.equal(evaluationVerdict({ ...young, placementSamplesLong: 100 }, settings).status, 'blocked');
    assert.equal(evaluationVerdict({ ...young, senderBounces: 5 }, settings).status, 'quarantined');
  });

  // A mailbox without an established sample, 25 placements in the window, against peers with 400 placements: the
  // part of its Junk rate above theirs meets the bands once the difference reaches 3 standard errors (spamPeerZ,
  // two-proportion z-test).
  const PEER_VERDICTS: [string, [number, number], string][] = [
    ['a pool starting in Junk, the mailbox with it (40% vs 40%)', [10, 160], 'active'],
    ['worse than its peers by chance (56% vs 40%, z 1.6)', [14, 160], 'active'],
    ['far worse than its peers (68% vs 32%, z 3.7): the excess 36% quarantines', [17, 128], 'quarantined'],
    ['far worse than a clean pool (60% vs 10%, z 7.2): the excess 50% blocks', [15, 40], 'blocked'],
    ['12% vs a pool all in Inbox (z 7.0): the excess 12% watches', [3, 0], 'watch'],
  ];
  for (const [name, [junk, peerJunk], expected] of PEER_VERDICTS) {
    test(`verdict against peers: ${name}`, () => {
      const counts = {
        placementSamples: 25,
        placementSamplesLong: 25,
        inJunk: junk,
        sends: 25,
        senderBounces: 0,
        peerPlacementSamples: 400,
        peerInJunk: peerJunk,
      };
      assert.equal(evaluationVerdict(counts, settings).status, expected);
    });
  }
  test('verdict against peers: fewer than 20 peer placements, or the mailbox under 20, say nothing', () => {
    const farWorse = { placementSamplesLong: 25, sends: 25, senderBounces: 0, peerInJunk: 2 };
    assert.equal(
      evaluationVerdict({ ...farWorse, placementSamples: 25, inJunk: 25, peerPlacementSamples: 19 }, settings).status,
      'active',
    );
    assert.equal(
      evaluationVerdict({ ...farWorse, placementSamples: 19, inJunk: 19, peerPlacementSamples: 400 }, settings).status,
      'active',
    );
    assert.equal(
      evaluationVerdict({ ...farWorse, placementSamples: 25, inJunk: 25, peerPlacementSamples: 20 }, settings).status,
      'blocked',
    );
  });
  test('verdict against peers: the no-ramp sender of the suite run, 14 of 20 in Junk against 13 of 44 (z 3.0)', () => {
    const counts = { placementSamples: 20, placementSamplesLong: 20, inJunk: 14, sends: 20, senderBounces: 0 };
    assert.equal(
      evaluationVerdict({ ...counts, peerPlacementSamples: 44, peerInJunk: 13 }, settings).status,
      'blocked',
    );
    assert.equal(evaluationVerdict({ ...counts, peerPlacementSamples: 44, peerInJunk: 16 }, settings).status, 'active');
  });

  const TRANSITIONS: [string, SafetyState, SafetySignal, Partial<SafetyState> & { status: string }, string | null][] = [
    [
      'restricted sender pauses at once',
      active,
      { kind: 'bounce', at: AT, enhancedStatus: '5.1.8', recipient: 'p@x.com' },
      { status: 'paused', reason: 'restricted_sender', until: null },
      'restricted_sender',
    ],
    [
      'restricted sender pauses even a quarantine',
      quarantined,
      { kind: 'bounce', at: AT, enhancedStatus: '5.7.1', recipient: 'p@x.com' },
      { status: 'paused', reason: 'restricted_sender' },
      'restricted_sender',
    ],
    [
      'a sender bounce waits for the evaluation',
      active,
      { kind: 'bounce', at: AT, enhancedStatus: '5.4.1', recipient: 'p@x.com' },
      { status: 'active' },
      null,
    ],
    [
      'revoked grant pauses',
      watch,
      { kind: 'grant_revoked', at: AT },
      { status: 'paused', reason: 'grant_revoked' },
      'grant_revoked',
    ],
    [
      'revoked grant leaves a quarantine to run',
      quarantined,
      { kind: 'grant_revoked', at: AT },
      { status: 'quarantined' },
      null,
    ],
    [
      'revoked grant leaves the user pause',
      userPaused,
      { kind: 'grant_revoked', at: AT },
      { status: 'paused', reason: 'user' },
      null,
    ],
    [
      'reconnect resumes on probation',
      revoked,
      { kind: 'reconnected', at: AT },
      { status: 'probation', since: AT, until: AT + 3 * DAY },
      null,
    ],
    [
      'reconnect does not end a user pause',
      userPaused,
      { kind: 'reconnected', at: AT },
      { status: 'paused', reason: 'user' },
      null,
    ],
    [
      'two storms in an hour: nothing yet',
      active,
      { kind: 'throttle_storm', at: AT, stormsStartedAt: [AT - 30 * 60_000, AT] },
      { status: 'active' },
      null,
    ],
    [
      'three storms in an hour: pause 24 h',
      active,
      { kind: 'throttle_storm', at: AT, stormsStartedAt: [AT - 59 * 60_000, AT - 20 * 60_000, AT] },
      { status: 'paused', reason: 'throttling_storms', until: AT + 24 * HOUR },
      'throttling_storms',
    ],
    [
      'three storms over more than an hour: nothing',
      active,
      { kind: 'throttle_storm', at: AT, stormsStartedAt: [AT - 60 * 60_000, AT - 20 * 60_000, AT] },
      { status: 'active' },
      null,
    ],
    ['10% spam puts an active mailbox on watch', active, evaluation(20, 2), { status: 'watch', since: AT }, null],
    ['clean evaluation takes watch back to active', watch, evaluation(40, 3), { status: 'active', since: AT }, null],
    ['bounces throttle', active, evaluation(0, 0, 100, 3), { status: 'throttled', reason: 'sender_bounces' }, null],
    [
      '20% spam quarantines 7 days',
      watch,
      evaluation(20, 4),
      { status: 'quarantined', until: AT + 7 * DAY, reason: 'spam_placement' },
      'spam_placement',
    ],
    [
      '5% bounces quarantine 7 days',
      active,
      evaluation(0, 0, 50, 3),
      { status: 'quarantined', until: AT + 7 * DAY, reason: 'sender_bounces' },
      'sender_bounces',
    ],
    [
      '40% spam blocks 30 days',
      active,
      evaluation(25, 10),
      { status: 'blocked', until: AT + 30 * DAY },
      'spam_placement',
    ],
    ['probation ignores a watch verdict', probation, evaluation(20, 2), { status: 'probation' }, null],
    ['probation escalates to quarantine', probation, evaluation(20, 4), { status: 'quarantined' }, 'spam_placement'],
    ['a quarantined mailbox is not re-evaluated', quarantined, evaluation(20, 0), { status: 'quarantined' }, null],
    [
      'quarantine not over a minute early',
      quarantined,
      { kind: 'clock', at: T0 + 7 * DAY - 60_000 },
      { status: 'quarantined' },
      null,
    ],
    [
      'quarantine over: probation 3 days',
      quarantined,
      { kind: 'clock', at: T0 + 7 * DAY },
      { status: 'probation', until: T0 + 10 * DAY },
      null,
    ],
    ['block over: probation', blocked, { kind: 'clock', at: T0 + 30 * DAY }, { status: 'probation' }, null],
    ['probation over: active', probation, { kind: 'clock', at: AT + DAY }, { status: 'active', since: AT + DAY }, null],
    [
      'throttling pause over: probation',
      { status: 'paused', since: T0, until: T0 + DAY, reason: 'throttling_storms' },
      { kind: 'clock', at: T0 + DAY },
      { status: 'probation' },
      null,
    ],
    ['user pause: no alert', active, { kind: 'user_pause', at: AT }, { status: 'paused', reason: 'user' }, null],
    [
      'user pause cannot end a quarantine early',
      quarantined,
      { kind: 'user_pause', at: AT },
      { status: 'quarantined' },
      null,
    ],
    [
      'user resume after a user pause: active',
      userPaused,
      { kind: 'user_resume', at: AT },
      { status: 'active', since: AT },
      null,
    ],
    [
      'user resume after an unblock: probation',
      restricted,
      { kind: 'user_resume', at: AT },
      { status: 'probation' },
      null,
    ],
    [
      'user resume cannot skip a reconnect',
      revoked,
      { kind: 'user_resume', at: AT },
      { status: 'paused', reason: 'grant_revoked' },
      null,
    ],
    [
      'user resume cannot end a quarantine',
      quarantined,
      { kind: 'user_resume', at: AT },
      { status: 'quarantined' },
      null,
    ],
  ];
  for (const [name, from, signal, expected, alertReason] of TRANSITIONS) {
    test(`transition: ${name}`, () => {
      const outcome = nextSafetyState(from, signal, settings);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(
          (outcome.state as Record<string, unknown>)[key],
          value,
          `${key}: ${JSON.stringify(outcome.state)}`,
        );
      }
      assert.equal(outcome.changed, outcome.state !== from);
      assert.equal(outcome.alert?.reason ?? null, alertReason);
      if (outcome.alert) {
        assert.equal(outcome.alert.status, outcome.state.status);
        assert.equal(outcome.alert.remediation, remediationFor(outcome.alert.reason, settings));
      }
      assert.equal(outcome.removePartner, null);
    });
  }

  test('a partner address that bounces leaves the pool; the sender keeps its state', () => {
    for (const code of ['5.1.1', '5.1.10', '5.2.1']) {
      const outcome = nextSafetyState(
        active,
        { kind: 'bounce', at: AT, enhancedStatus: code, recipient: 'gone@fabrikam.com' },
        settings,
      );
      assert.deepEqual(outcome.state, active);
      assert.equal(outcome.changed, false);
      assert.equal(outcome.alert, null);
      assert.equal(outcome.removePartner, 'gone@fabrikam.com');
    }
  });

  test('leaving a stop reports how long it lasted, for the ramp', () => {
    assert.equal(nextSafetyState(quarantined, { kind: 'clock', at: T0 + 7 * DAY }, settings).resumedAfterDays, 7);
    assert.equal(
      nextSafetyState(userPaused, { kind: 'user_resume', at: T0 + 15 * DAY }, settings).resumedAfterDays,
      15,
    );
  });

  test('every stop reason has a remediation that says what to do', () => {
    for (const reason of [
      'restricted_sender',
      'grant_revoked',
      'throttling_storms',
      'spam_placement',
      'sender_bounces',
      'user',
    ] as const) {
      assert.ok(remediationFor(reason, settings).length > 40, reason);
    }
    assert.match(remediationFor('grant_revoked', settings), /Reconnect/);
    assert.match(remediationFor('throttling_storms', settings), /3 times within 60 minutes.*24 hours/);
  });
});
