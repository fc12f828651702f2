/**
 * How a process waiting for another process's refresh hears that it ended (issue 14): the lease's release announces
 * itself on PostgreSQL (src/tokens/refresh-lease.ts), and src/db/notification-waiter.ts wakes the waiters of that
 * account, and only those; without a known database address a wait falls back to polling. The lease's generation
 * tells a new holder whether a refresh ended since it read the account.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { NotificationWaiter } from '../../src/db/notification-waiter.js';
import {
  isUnchangedSince,
  REFRESH_LEASE_MS,
  REFRESH_LEASE_RELEASED_CHANNEL,
  releaseRefreshLease,
  takeRefreshLease,
  takeRefreshLeaseWithGeneration,
} from '../../src/tokens/refresh-lease.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';

const logger = pino({ level: 'silent' });

describe('refresh lease release notification [postgres]', () => {
  let database: TestDatabase;
  let waiter: NotificationWaiter;
  before(async () => {
    database = await openTestDatabase('postgres');
    if (database.config.dialect !== 'postgres') throw new Error('postgres expected');
    waiter = new NotificationWaiter({
      url: database.config.url.reveal(),
      channel: REFRESH_LEASE_RELEASED_CHANNEL,
      logger,
    });
  });
  after(async () => {
    await waiter?.close();
    await database?.close();
  });

  it('wakes the waiter of the released account, not the waiter of another', async () => {
    const now = 1_750_000_000_000;
    const other = await waiter.expect('acc_notify_other');
    const mine = await waiter.expect('acc_notify_one');
    const lease = await takeRefreshLease(database.db, 'acc_notify_one', now);
    assert.ok(lease);
    // Another process (here: the pool's connection) releases the lease it held.
    await releaseRefreshLease(database.db, 'acc_notify_one', lease, { notify: true });
    assert.equal(await mine.arrived, 'notified');
    other.cancel();
    assert.equal(await other.arrived, 'cancelled', 'the other account was not woken');
    const row = await database.db
      .selectFrom('account_refresh_leases')
      .select(['lease_until', 'generation'])
      .where('account_id', '=', 'acc_notify_one')
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      { leaseUntil: Number(row.lease_until), generation: Number(row.generation) },
      { leaseUntil: 0, generation: 1 },
      'the release ended the lease, one generation on',
    );
  });

  it('counts the ends of a lease, so a holder knows whether a refresh ended since it read the account', async () => {
    const now = 1_750_000_000_000;
    const first = await takeRefreshLeaseWithGeneration(database.db, 'acc_gen', now);
    assert.ok(first);
    assert.ok(isUnchangedSince(first, undefined), 'no lease row read, none ended: unchanged');
    await releaseRefreshLease(database.db, 'acc_gen', first.owner);
    const second = await takeRefreshLeaseWithGeneration(database.db, 'acc_gen', now + 1_000);
    assert.ok(second);
    assert.ok(!isUnchangedSince(second, undefined), 'read before the first lease: a refresh ended since');
    assert.ok(isUnchangedSince(second, 1), 'read after the first release: unchanged');
    // Its holder dies; the lease runs out and is taken over: that counts as an end too (it may have stored a refresh).
    const heir = await takeRefreshLeaseWithGeneration(database.db, 'acc_gen', now + 1_000 + REFRESH_LEASE_MS);
    assert.ok(heir);
    assert.ok(!isUnchangedSince(heir, 1));
    assert.equal(heir.generation, 2);
  });

  it('announces nothing when the lease was not this holder’s (taken over after it ended)', async () => {
    const now = 1_750_000_000_000;
    const dead = await takeRefreshLease(database.db, 'acc_notify_dead', now);
    const heir = await takeRefreshLease(database.db, 'acc_notify_dead', now + 120_000);
    assert.ok(dead && heir);
    const waiting = await waiter.expect('acc_notify_dead');
    await releaseRefreshLease(database.db, 'acc_notify_dead', dead, { notify: true });
    assert.equal(await waiting.arrived, 'fallback', 'the heir still holds it: no wake-up');
  });

  it('polls when the database address is unknown', async () => {
    const blind = new NotificationWaiter({ url: undefined, channel: REFRESH_LEASE_RELEASED_CHANNEL, logger });
    const waiting = await blind.expect('acc_notify_blind');
    assert.equal(await waiting.arrived, 'fallback');
    await blind.close();
  });
});
