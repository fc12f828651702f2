import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { revokeUserConsent } from '../../emulator/control/actions.js';
import { DEMO_IDS } from '../../emulator/seed.js';
import { listEvents } from '../../src/events/event-recorder.js';
import { checkAccountHealth } from '../../src/health/health-check.js';
import { JOBS } from '../../src/jobs/job-engine.js';
import { jobHandlers } from '../../src/jobs/job-handlers.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { enableWarmup, readWarmupAccount } from '../../src/warmup/warmup-store.js';
import { builtInTasks } from '../../src/worker/background-work.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';

/**
 * Safety (docs/warmup.md §G) as the running engine enforces it, on both runners: Microsoft throttling the mailbox is
 * a pause with its alert (three storms in an hour), never a failure, and ends by itself on probation; a revoked
 * grant pauses warm-up with its alert and the reconnect resumes it on probation. Every stop is a `warmup.*` event.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

for (const dialect of TEST_DIALECTS) {
  describe(`warm-up safety in the running engine [${dialect}]`, () => {
    let h: OutboxHarness;
    let provider: AccessTokenProvider;
    let megan: string;
    let alex: string;
    let runWarmup: () => Promise<unknown>;

    before(async () => {
      h = await startOutboxHarness(dialect);
      provider = new AccessTokenProvider(h.service.deps);
      megan = await h.connect('megan@contoso.com', { profile: 'warmup', ownerId: 'megan' });
      alex = await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' });
      if (dialect === 'postgres') {
        const handlers = jobHandlers(h.service.deps, { provider });
        runWarmup = () => handlers[JOBS.warmupSweep]({});
      } else {
        const task = builtInTasks(h.service.deps, provider).find((each) => each.name === 'warmup');
        assert.ok(task);
        runWarmup = () => task.run();
      }
    });
    after(async () => {
      await h?.close();
    });

    /** Moves the clock in one-minute steps for `ms`, running the warm-up work and the outbox at each. */
    async function runFor(ms: number): Promise<void> {
      const end = h.clock.now() + ms;
      while (h.clock.now() < end) {
        await runWarmup();
        await h.drain();
        h.advance(60);
      }
    }

    async function warmupEvents(accountId: string) {
      const events = await listEvents(h.service.deps.db, h.client.organization.id, { limit: 200, accountId });
      return events.filter((event) => event.type.startsWith('warmup.'));
    }

    it('takes three throttling storms within an hour as a pause with its alert, never a failure', async () => {
      const user =
        h.ctx.world.users[
          Object.keys(h.ctx.world.users).find((id) => h.ctx.world.users[id]!.email === 'megan@contoso.com')!
        ]!;
      // Microsoft answers this mailbox's Graph requests 429 with Retry-After: 60 for a while.
      h.ctx.faults.push({
        id: 'throttle-megan',
        userId: user.id,
        target: 'graph',
        kind: 'throttle429',
        retryAfterSeconds: 60,
        latencyMs: null,
        remaining: null,
        probability: 1,
      });
      await enableWarmup(h.service.deps, h.client.organization.id, megan, {});
      await runFor(20 * MINUTE);
      const view = await readWarmupAccount(h.service.deps.db, h.client.organization.id, megan, h.clock.now());
      assert.equal(view.state.status, 'paused');
      assert.equal(view.state.reason, 'throttling_storms');
      assert.match(view.state.remediation ?? '', /throttled this mailbox 3 times within 60 minutes/);
      assert.ok(view.state.until, 'a throttling pause ends by itself');
      const events = await warmupEvents(megan);
      const paused = events.find((event) => event.type === 'warmup.paused');
      assert.equal(paused?.data['reason'], 'throttling_storms');
      // A pause for the mailbox, not a failure of anything: the account stays connected, no warm-up mail failed.
      const account = await h.service.deps.db
        .selectFrom('accounts')
        .select('status')
        .where('id', '=', megan)
        .executeTakeFirstOrThrow();
      assert.equal(account.status, 'connected');
      const failed = await h.service.deps.db
        .selectFrom('warmup_messages')
        .select('id')
        .where('status', '=', 'failed')
        .execute();
      assert.equal(failed.length, 0);

      // Microsoft stops throttling; the pause runs its 24 hours and warm-up comes back on probation, with its event.
      h.ctx.faults.splice(0, h.ctx.faults.length);
      h.advance(25 * 3600);
      await runFor(5 * MINUTE);
      const after = await readWarmupAccount(h.service.deps.db, h.client.organization.id, megan, h.clock.now());
      assert.equal(after.state.status, 'probation');
      const resumed = (await warmupEvents(megan)).find((event) => event.type === 'warmup.resumed');
      assert.equal(resumed?.data['state'], 'probation');
    });

    it('pauses warm-up with its alert when the grant is revoked, and resumes it after the reconnect', async () => {
      await enableWarmup(h.service.deps, h.client.organization.id, alex, {});
      await runFor(5 * MINUTE);
      const user = Object.values(h.ctx.world.users).find((each) => each.email === 'alex@outlook.com')!;
      revokeUserConsent(h.ctx, user, DEMO_IDS.clientId, { revokeAccessTokens: true });
      // The service's health check finds out (a refresh refused with AADSTS65001); the engine follows the account.
      await checkAccountHealth(h.service.deps, provider, alex);
      h.advance(2 * 3600);
      await runFor(5 * MINUTE);
      const view = await readWarmupAccount(h.service.deps.db, h.client.organization.id, alex, h.clock.now());
      assert.equal(view.state.status, 'paused');
      assert.equal(view.state.reason, 'grant_revoked');
      assert.match(view.state.remediation ?? '', /Reconnect the mailbox/);
      const paused = (await warmupEvents(alex)).find((event) => event.type === 'warmup.paused');
      assert.equal(paused?.data['reason'], 'grant_revoked');

      assert.equal(await h.connect('alex@outlook.com', { profile: 'warmup', ownerId: 'alex' }), alex);
      await runFor(HOUR + 5 * MINUTE);
      const resumed = await readWarmupAccount(h.service.deps.db, h.client.organization.id, alex, h.clock.now());
      assert.equal(resumed.state.status, 'probation');
      const event = (await warmupEvents(alex)).find((each) => each.type === 'warmup.resumed');
      assert.equal(event?.data['previousState'], 'paused');
    });
  });
}
