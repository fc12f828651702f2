import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { releaseClaimedMessages } from '../../src/ops/lease-release.js';
import { markStarted } from '../../src/outbox/attempt-outcome.js';
import { claimLane } from '../../src/outbox/pacing.js';
import { newLeaseOwnerId, processLeaseOwnerPrefix } from '../../src/platform/ids.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';

describe('lease owner ids', () => {
  it("this process's prefix is how the outbox names its workers (host:pid:)", () => {
    const prefix = processLeaseOwnerPrefix();
    assert.match(prefix, new RegExp(`:${process.pid}:$`));
    for (let i = 0; i < 5; i++) assert.ok(newLeaseOwnerId().startsWith(prefix), newLeaseOwnerId());
    assert.ok(!newLeaseOwnerId().startsWith(processLeaseOwnerPrefix(process.pid + 1)));
  });
});

for (const dialect of TEST_DIALECTS) {
  describe(`releasing this process's claimed outbox messages at shutdown [${dialect}]`, () => {
    let h: OutboxHarness;
    let alex: string;
    before(async () => {
      h = await startOutboxHarness(dialect);
      alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    });
    after(async () => {
      await h?.close();
    });

    it("gives back claimed messages, keeps started ones and other processes' ones", async () => {
      for (const subject of ['one', 'two', 'three']) {
        const accepted = await h.send(`/v1/accounts/${alex}/messages`, {
          to: 'megan@contoso.com',
          subject,
          text: 'Hi',
        });
        assert.equal(accepted.status, 202);
      }
      const deps = h.service.deps;
      const ours = `${processLeaseOwnerPrefix()}shutdown-test`;
      const claims = await claimLane(deps, alex, { workerId: ours, leaseMs: 120_000, max: 2 });
      assert.equal(claims.length, 2);
      // Another host's worker holds the third (same pid by coincidence: only the whole prefix counts).
      const theirs = await claimLane(deps, alex, {
        workerId: `other-host:${process.pid}:abc`,
        leaseMs: 120_000,
        max: 1,
      });
      assert.equal(theirs.length, 1);
      // Our first claim's request may have left: it must stay ours until its lease expires.
      await markStarted(deps, claims[0]!, 'sendMail', { send_mode: 'sendMail' });

      const { released } = await releaseClaimedMessages(deps);
      assert.deepEqual(released, [claims[1]!.message.id]);

      const row = (id: string) =>
        deps.db.selectFrom('outbox_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const attempt = (id: string) =>
        deps.db.selectFrom('outbox_attempts').selectAll().where('message_id', '=', id).executeTakeFirstOrThrow();
      const releasedRow = await row(claims[1]!.message.id);
      assert.equal(releasedRow.status, 'queued');
      assert.equal(releasedRow.lease_owner, null);
      assert.ok(Number(releasedRow.next_attempt_at) <= deps.clock.now(), 'due now');
      assert.equal((await attempt(claims[1]!.message.id)).outcome, 'abandoned');

      const started = await row(claims[0]!.message.id);
      assert.equal(started.status, 'sending');
      assert.equal(started.lease_owner, ours);
      assert.equal((await attempt(claims[0]!.message.id)).outcome, 'started');
      const other = await row(theirs[0]!.message.id);
      assert.equal(other.status, 'sending');
      assert.equal((await attempt(theirs[0]!.message.id)).outcome, 'claimed');

      // A worker that lost its claim this way can no longer start it: nothing is sent twice.
      await assert.rejects(markStarted(deps, claims[1]!, 'sendMail'), { name: 'LeaseLostError' });
      assert.equal((await attempt(claims[1]!.message.id)).outcome, 'abandoned', 'and its attempt is not marked');
      // Released is due again: the next round takes it (and sends it once).
      assert.equal((await releaseClaimedMessages(deps)).released.length, 0, 'idempotent');
    });
  });
}
