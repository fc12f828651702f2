import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { loadConfig } from '../../src/config/load-config.js';
import type { Database, DbDialect } from '../../src/db/schema.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { DEFAULT_LANE } from '../../src/outbox/message-target.js';
import { claimLaneWork } from '../../src/outbox/pacing.js';
import { ManualClock } from '../../src/platform/clock.js';
import { insertConnectedAccount } from '../support/connected-account.js';
import { forEachDatabase } from '../support/databases.js';
import { StatementCounter } from '../support/statement-counter.js';

/**
 * One claim of one lane, read by hand (`claimLaneWork`): what it takes, in which order, and the pauses it records.
 * On PostgreSQL the lane's usage and its due messages are one statement (issue 14); each case below needs that
 * statement's usage, its due rows, or both, and the ones with nothing due need the usage without any row.
 * Limits are the defaults: 4 in flight, 30 a minute, 10,000 recipients a day for a work account.
 */

const NOW = 1_800_000_000_000;
const MINUTE = 60_000;
const DAY = 86_400_000;
const OPTIONS = { workerId: 'claim-test', leaseMs: 120_000, max: 10 };

let sequence = 0;

async function seedAccount(db: Kysely<Database>, clock: ManualClock, organizationId: string): Promise<string> {
  sequence += 1;
  return insertConnectedAccount(db, clock, organizationId, {
    email: `user-${sequence}@contoso.com`,
    ownerExternalId: `owner-${sequence}`,
    profile: 'send',
    scopes: ['openid', 'offline_access', 'Mail.Send'],
  });
}

interface MessageRow {
  status: 'queued' | 'sending' | 'sent';
  next?: number;
  lease?: number;
  recipients?: number;
  /** The message's attempts so far, oldest first: outcome and when it finished (null: unfinished). */
  tries?: Array<{ outcome: string; finished: number | null; recipients?: number }>;
}

async function insertMessage(db: Kysely<Database>, organizationId: string, lane: string, row: MessageRow) {
  sequence += 1;
  const id = `msg_${String(sequence).padStart(6, '0')}`;
  await db
    .insertInto('outbox_messages')
    .values({
      id,
      organization_id: organizationId,
      account_id: null,
      owner_external_id: null,
      provider: 'default',
      lane,
      status: row.status,
      from_address: 'a@example.test',
      subject: 's',
      payload: '{}',
      recipient_count: row.recipients ?? 1,
      attachment_count: 0,
      size_bytes: 100,
      internet_message_id: `<${sequence}@example.test>`,
      next_attempt_at: row.next ?? null,
      lease_owner: row.status === 'sending' ? 'dead-worker' : null,
      lease_until: row.lease ?? null,
      attempts: row.tries?.length ?? 0,
      created_at: NOW - DAY,
      updated_at: NOW - DAY,
    })
    .execute();
  for (const [index, attempt] of (row.tries ?? []).entries()) {
    await db
      .insertInto('outbox_attempts')
      .values({
        id: `att_${id}_${index + 1}`,
        message_id: id,
        lane,
        number: index + 1,
        worker_id: 'dead-worker',
        outcome: attempt.outcome,
        recipient_count: attempt.recipients ?? row.recipients ?? 1,
        claimed_at: NOW - DAY,
        finished_at: attempt.finished,
      })
      .execute();
  }
  return id;
}

async function pacedUntil(db: Kysely<Database>, lane: string): Promise<number | null> {
  const row = await db.selectFrom('outbox_pacing').select('paced_until').where('lane', '=', lane).executeTakeFirst();
  return row?.paced_until == null ? null : Number(row.paced_until);
}

forEachDatabase('outbox: one claim of a lane', (getDb, dialect: DbDialect) => {
  const clock = new ManualClock(NOW);
  const config = loadConfig({});
  let organizationId: string;
  const deps = () => ({ db: getDb().db, dialect, clock, config });
  const newLane = async () => seedAccount(getDb().db, clock, organizationId);
  const insert = (lane: string, row: MessageRow) => insertMessage(getDb().db, organizationId, lane, row);

  before(async () => {
    organizationId = (await createOrganization(getDb().db, clock, { name: 'Claims' })).id;
  });

  it('takes expired leases first (by lease end), then queued messages by due time, within the free concurrency', async () => {
    const lane = await newLane();
    await insert(lane, { status: 'sending', lease: NOW + MINUTE, tries: [{ outcome: 'started', finished: null }] });
    const abandoned = await insert(lane, {
      status: 'sending',
      lease: NOW - 1_000,
      tries: [{ outcome: 'claimed', finished: null }],
    });
    const unknown = await insert(lane, {
      status: 'sending',
      lease: NOW - 2_000,
      tries: [{ outcome: 'started', finished: null }],
    });
    await insert(lane, { status: 'queued', next: NOW - 1_000 });
    const retried = await insert(lane, {
      status: 'queued',
      next: NOW - 3_000,
      tries: [{ outcome: 'not_sent', finished: NOW - 5_000 }],
    });
    await insert(lane, { status: 'queued', next: NOW + MINUTE });

    // One live lease of 4: room for 3 (the unfinished attempts count against the minute, 3 of 30).
    const first = await claimLaneWork(deps(), lane, OPTIONS);
    assert.deepEqual(
      first.claims.map((claim) => [claim.message.id, claim.previousOutcome, claim.attemptNumber]),
      [
        [unknown, 'unknown', 2],
        [abandoned, 'abandoned', 2],
        [retried, 'not_sent', 2],
      ],
    );
    assert.equal(first.exhausted, false, 'as many due as there was room for');
    assert.ok(first.claims.every((claim) => claim.account?.id === lane));
    const closed = await getDb()
      .db.selectFrom('outbox_attempts')
      .select(['message_id', 'outcome', 'finished_at'])
      .where('message_id', 'in', [unknown, abandoned])
      .where('number', '=', 1)
      .orderBy('message_id')
      .execute();
    assert.deepEqual(
      closed.map((row) => [row.message_id, row.outcome, Number(row.finished_at)]),
      [
        [abandoned, 'abandoned', NOW],
        [unknown, 'unknown', NOW],
      ],
    );

    // Four in flight now: nothing more, though one message is due.
    assert.deepEqual(await claimLaneWork(deps(), lane, OPTIONS), { claims: [], exhausted: false });
  });

  it('expired leases beyond the room: the oldest are taken, no queued message', async () => {
    const lane = await newLane();
    const leases = [NOW - 4_000, NOW - 3_000, NOW - 2_000, NOW - 1_000, NOW - 500];
    const ids = [];
    for (const lease of leases) ids.push(await insert(lane, { status: 'sending', lease, tries: [] }));
    await insert(lane, { status: 'queued', next: NOW - DAY });
    const claim = await claimLaneWork(deps(), lane, { ...OPTIONS, max: 2 });
    assert.deepEqual(
      claim.claims.map((each) => [each.message.id, each.previousOutcome]),
      [
        [ids[0], null],
        [ids[1], null],
      ],
    );
    assert.equal(claim.exhausted, false);
  });

  it('fewer due messages than room: the claim says the lane is exhausted, and again when nothing is due', async () => {
    const lane = await newLane();
    const due = await insert(lane, { status: 'queued', next: NOW });
    await insert(lane, { status: 'queued', next: NOW + 1 });
    const first = await claimLaneWork(deps(), lane, OPTIONS);
    assert.deepEqual(
      first.claims.map((claim) => [claim.message.id, claim.previousOutcome]),
      [[due, null]],
    );
    assert.equal(first.exhausted, true);
    assert.deepEqual(await claimLaneWork(deps(), lane, OPTIONS), { claims: [], exhausted: true });
    assert.equal(await pacedUntil(getDb().db, lane), null, 'no pause recorded');
  });

  it('a spent minute with nothing due records the pause until its oldest send leaves the window', async () => {
    const lane = await newLane();
    for (let index = 0; index < 30; index++) {
      await insert(lane, {
        status: 'sent',
        tries: [{ outcome: 'accepted', finished: NOW - 50_000 + index * 1_000 }],
      });
    }
    // Sent a day ago: out of both windows.
    await insert(lane, { status: 'sent', tries: [{ outcome: 'accepted', finished: NOW - DAY }] });
    assert.deepEqual(await claimLaneWork(deps(), lane, OPTIONS), { claims: [], exhausted: false });
    assert.equal(await pacedUntil(getDb().db, lane), NOW - 50_000 + MINUTE);
  });

  it('a spent minute leaves a due message queued, and records the pause', async () => {
    const lane = await newLane();
    for (let index = 0; index < 30; index++) {
      await insert(lane, { status: 'sent', tries: [{ outcome: 'accepted', finished: NOW - 40_000 }] });
    }
    const waiting = await insert(lane, { status: 'queued', next: NOW - 1_000 });
    assert.deepEqual(await claimLaneWork(deps(), lane, OPTIONS), { claims: [], exhausted: false });
    assert.equal(await pacedUntil(getDb().db, lane), NOW - 40_000 + MINUTE);
    const row = await getDb()
      .db.selectFrom('outbox_messages')
      .select(['status', 'attempts'])
      .where('id', '=', waiting)
      .executeTakeFirstOrThrow();
    assert.deepEqual({ ...row }, { status: 'queued', attempts: 0 });
  });

  it("the day's recipient budget cuts a claim short and records the pause until the window frees", async () => {
    const lane = await newLane();
    await insert(lane, {
      status: 'sent',
      recipients: 9_998,
      tries: [{ outcome: 'accepted', finished: NOW - 3 * 3_600_000 }],
    });
    const fits = await insert(lane, { status: 'queued', next: NOW - 2_000, recipients: 2 });
    await insert(lane, { status: 'queued', next: NOW - 1_000, recipients: 1 });
    const claim = await claimLaneWork(deps(), lane, OPTIONS);
    assert.deepEqual(
      claim.claims.map((each) => each.message.id),
      [fits],
    );
    assert.equal(claim.exhausted, false, 'cut short, not out of due work');
    assert.equal(await pacedUntil(getDb().db, lane), NOW - 3 * 3_600_000 + DAY);
  });

  it('the relay lane has no per-minute or daily limit of its own: only the concurrency bounds it', async () => {
    for (let index = 0; index < 40; index++) {
      await insert(DEFAULT_LANE, {
        status: 'sent',
        recipients: 1_000,
        tries: [{ outcome: 'accepted', finished: NOW - 10_000 }],
      });
    }
    for (let index = 0; index < 6; index++) await insert(DEFAULT_LANE, { status: 'queued', next: NOW - 1_000 });
    const claim = await claimLaneWork(deps(), DEFAULT_LANE, OPTIONS);
    assert.equal(claim.claims.length, 4);
    assert.ok(claim.claims.every((each) => each.account === undefined));
    assert.equal(claim.exhausted, false);
    assert.equal(await pacedUntil(getDb().db, DEFAULT_LANE), null);
  });

  if (dialect === 'postgres') {
    it('a claim is three statements on PostgreSQL: lock and account, usage and due messages, move and attempts', async () => {
      const lane = await newLane();
      await insert(lane, { status: 'queued', next: NOW - 1_000 });
      await insert(lane, { status: 'queued', next: NOW - 1_000 });
      const counter = new StatementCounter();
      const claim = await claimLaneWork({ ...deps(), db: getDb().db.withPlugin(counter) }, lane, OPTIONS);
      assert.equal(claim.claims.length, 2);
      assert.equal(counter.count, 3);
    });

    it('claims of several lanes asked for in one turn commit in one transaction on PostgreSQL', async () => {
      const lanes = [await newLane(), await newLane(), await newLane()];
      for (const lane of lanes) await insert(lane, { status: 'queued', next: NOW - 1_000 });
      const claimed = await Promise.all(lanes.map((lane) => claimLaneWork(deps(), lane, OPTIONS)));
      assert.deepEqual(
        claimed.map((claim) => claim.claims.map((each) => each.message.lane)),
        lanes.map((lane) => [lane]),
      );
      // Rows written by one transaction carry its id as their xmin: the lanes' pacing rows and moved messages.
      const writers = await sql<{ writer: string }>`
        select distinct xmin::text as writer from outbox_pacing where lane in (${sql.join(lanes)})
        union select distinct xmin::text from outbox_messages where lane in (${sql.join(lanes)})
      `.execute(getDb().db);
      assert.equal(writers.rows.length, 1, JSON.stringify(writers.rows));
    });

    it("lanes claimed in one turn share the claim's statements; an expired lease and a pause keep their rules", async () => {
      const [plain, withExpired, paused] = [await newLane(), await newLane(), await newLane()];
      const plainIds = [
        await insert(plain, { status: 'queued', next: NOW - 2_000 }),
        await insert(plain, { status: 'queued', next: NOW - 1_000 }),
      ];
      const queuedBehind = await insert(withExpired, { status: 'queued', next: NOW - 5_000 });
      const expired = await insert(withExpired, {
        status: 'sending',
        lease: NOW - 1_000,
        tries: [{ outcome: 'claimed', finished: null }],
      });
      await insert(paused, { status: 'queued', next: NOW - 1_000 });
      await getDb()
        .db.insertInto('outbox_pacing')
        .values({ lane: paused, throttled_until: NOW + MINUTE, paced_until: null, last_claimed_at: 0, updated_at: 0 })
        .execute();

      const counter = new StatementCounter();
      const db = getDb().db.withPlugin(counter);
      const [plainClaim, expiredClaim, pausedClaim] = await Promise.all(
        [plain, withExpired, paused].map((lane) => claimLaneWork({ ...deps(), db }, lane, OPTIONS)),
      );
      assert.deepEqual(
        plainClaim?.claims.map((claim) => claim.message.id),
        plainIds,
      );
      assert.equal(plainClaim?.exhausted, true);
      // The expired lease first (its attempt closed as abandoned), then the queued message.
      assert.deepEqual(
        expiredClaim?.claims.map((claim) => [claim.message.id, claim.previousOutcome]),
        [
          [expired, 'abandoned'],
          [queuedBehind, null],
        ],
      );
      assert.deepEqual(pausedClaim, { claims: [], exhausted: false });
      const statuses = await getDb()
        .db.selectFrom('outbox_messages')
        .select(['lane', 'status'])
        .where('lane', 'in', [plain, withExpired, paused])
        .execute();
      assert.deepEqual(
        statuses
          .filter((row) => row.status === 'sending')
          .map((row) => row.lane)
          .sort(),
        [plain, plain, withExpired, withExpired].sort(),
      );
      // Lock and accounts, usage and due, the move: three for the three lanes; the expired lease's lane read its due
      // messages again, and its abandoned attempt was read and closed: three more.
      assert.equal(counter.count, 6);
    });
  }
});
