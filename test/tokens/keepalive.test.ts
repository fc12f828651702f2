/**
 * Keep-alive against the emulator's 90-day refresh-token inactivity window, on SQLite and PostgreSQL: an idle
 * account refreshed weekly is alive at day 91; one whose keep-alive never runs dies at day 91 with AADSTS700082
 * (reconnect_required, refresh_expired). Claims take each due account once, even from concurrent runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../../emulator/control/actions.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { runKeepalive } from '../../src/tokens/keepalive.js';
import { expiresIfUnusedBy } from '../../src/tokens/lifecycle-policy.js';
import { TokenError } from '../../src/tokens/token-error.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { type LifecycleHarness, startLifecycleHarness } from './support/lifecycle-harness.js';

const DAY = 86_400;
const FAR_FUTURE = Date.UTC(2999, 0, 1);

for (const dialect of TEST_DIALECTS) {
  describe(`keep-alive [${dialect}]`, () => {
    let h: LifecycleHarness;
    let provider: AccessTokenProvider;
    let userCount = 0;

    async function connectNew(): Promise<string> {
      userCount++;
      const user = createUser(h.emulator.ctx, {
        email: `keepalive-${dialect}-${userCount}@contoso.com`,
        password: DEMO_PASSWORD,
      });
      return h.connect(user);
    }

    /** Only the keep-alive may refresh in these tests: the health check is pushed out of the way. */
    async function schedule(accountId: string, nextKeepaliveAt: number): Promise<void> {
      await h.deps.db
        .updateTable('accounts')
        .set({ next_keepalive_at: nextKeepaliveAt, next_health_check_at: FAR_FUTURE })
        .where('id', '=', accountId)
        .execute();
    }

    before(async () => {
      h = await startLifecycleHarness({ dialect });
      provider = new AccessTokenProvider(h.deps, { random: () => 0 });
    });
    after(async () => {
      await h?.close();
    });

    test('weekly keep-alive keeps an idle account alive through 91 days; without it, day 91 is 700082', async () => {
      const kept = await connectNew();
      const skipped = await connectNew();
      await schedule(kept, h.deps.clock.now() + 7 * DAY * 1000);
      await schedule(skipped, FAR_FUTURE);

      for (let week = 1; week <= 13; week++) {
        h.advance(7 * DAY);
        const before = h.tokenRequests();
        const run = await runKeepalive(h.deps, provider, { random: () => 0 });
        assert.deepEqual(run, { claimed: 1, refreshed: 1, skipped: 0, failed: 0 }, `week ${week}`);
        assert.equal(h.tokenRequests(), before + 1);
        const row = await h.account(kept);
        assert.equal(row.refresh_token_issued_at, h.deps.clock.now());
        assert.equal(row.next_keepalive_at, h.deps.clock.now() + 7 * DAY * 1000);
        assert.equal(expiresIfUnusedBy(row), h.deps.clock.now() + 90 * DAY * 1000);
      }
      // Day 91: the kept account still refreshes; the other's refresh token died of inactivity at day 90.
      const token = await provider.getAccessToken(kept, { forceRefresh: true });
      assert.ok(token.expiresAt > h.deps.clock.now());
      assert.equal((await h.account(kept)).status, 'connected');

      await assert.rejects(provider.getAccessToken(skipped), (error: unknown) => {
        assert.ok(error instanceof TokenError);
        assert.equal(error.code, 'TOKENS_ACCOUNT_UNAVAILABLE');
        assert.ok(error.evidence?.errorCodes.includes(700082), JSON.stringify(error.evidence));
        return true;
      });
      const dead = await h.account(skipped);
      assert.deepEqual(
        { status: dead.status, reason: dead.status_reason },
        { status: 'reconnect_required', reason: 'refresh_expired' },
      );
    });

    test('an account in use needs no keep-alive: every refresh moves it a week on', async () => {
      const accountId = await connectNew();
      await schedule(accountId, h.deps.clock.now() + 6 * DAY * 1000);
      h.advance(6 * DAY - 60);
      // A send a minute before the keep-alive falls due refreshes the (long expired) access token.
      await provider.getAccessToken(accountId);
      assert.equal((await h.account(accountId)).next_keepalive_at, h.deps.clock.now() + 7 * DAY * 1000);
      h.advance(120);
      const before = h.tokenRequests();
      const run = await runKeepalive(h.deps, provider);
      assert.equal(run.claimed, 0);
      assert.equal(h.tokenRequests(), before);
    });

    test('concurrent runs claim each due account once', async () => {
      const ids = [await connectNew(), await connectNew(), await connectNew()];
      for (const id of ids) await schedule(id, h.deps.clock.now() + 1000);
      h.advance(2);
      const before = h.tokenRequests();
      const other = new AccessTokenProvider(h.deps, { random: () => 0 });
      const runs = await Promise.all([
        runKeepalive(h.deps, provider, { batchSize: 2 }),
        runKeepalive(h.deps, other, { batchSize: 2 }),
        runKeepalive(h.deps, provider, { batchSize: 2 }),
      ]);
      assert.equal(
        runs.reduce((sum, run) => sum + run.claimed, 0),
        3,
      );
      assert.equal(h.tokenRequests(), before + 3, 'one refresh per account');
    });
  });
}
