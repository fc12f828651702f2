/**
 * The refresh lease (src/tokens/refresh-lease.ts), on both databases: one holder at a time per account, a lease that
 * ended (its holder died) is taken over, and a holder releases only its own lease. The provider's use of it across
 * two real processes is test/tokens/cross-process-refresh.test.ts.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { REFRESH_LEASE_MS, releaseRefreshLease, takeRefreshLease } from '../../src/tokens/refresh-lease.js';
import { forEachDatabase } from '../support/databases.js';

forEachDatabase('refresh lease', (getDb) => {
  const now = 1_750_000_000_000;

  it('has one holder at a time per account; another account is independent', async () => {
    const { db } = getDb();
    const first = await takeRefreshLease(db, 'acc_lease_one', now);
    assert.ok(first);
    assert.equal(await takeRefreshLease(db, 'acc_lease_one', now + 1_000), undefined, 'held');
    assert.ok(await takeRefreshLease(db, 'acc_lease_two', now), 'another account');
    await releaseRefreshLease(db, 'acc_lease_one', first);
    const next = await takeRefreshLease(db, 'acc_lease_one', now + 2_000);
    assert.ok(next && next !== first, 'free again after release, under a new holder id');
  });

  it('is taken over once it has ended (its holder died), and the old holder cannot release the new lease', async () => {
    const { db } = getDb();
    const dead = await takeRefreshLease(db, 'acc_lease_dead', now);
    assert.ok(dead);
    assert.equal(await takeRefreshLease(db, 'acc_lease_dead', now + REFRESH_LEASE_MS - 1), undefined);
    const heir = await takeRefreshLease(db, 'acc_lease_dead', now + REFRESH_LEASE_MS);
    assert.ok(heir);
    await releaseRefreshLease(db, 'acc_lease_dead', dead);
    const row = await db
      .selectFrom('account_refresh_leases')
      .selectAll()
      .where('account_id', '=', 'acc_lease_dead')
      .executeTakeFirstOrThrow();
    assert.equal(row.owner, heir);
    assert.equal(Number(row.lease_until), now + 2 * REFRESH_LEASE_MS);
  });
});
