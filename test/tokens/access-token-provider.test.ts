/**
 * The access-token provider against the emulator over real HTTP, on SQLite and PostgreSQL: a stored token is reused,
 * refreshed ahead of its expiry (the emulator's clock, which the service follows, advanced through 60 minutes), the
 * rotated refresh token stored, one refresh for 50 concurrent callers, one refresh and one retry on a Graph 401.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, deleteAccessTokens } from '../../emulator/control/actions.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import type { User } from '../../emulator/state/model.js';
import { GraphClient } from '../../src/graph/graph-client.js';
import { GraphError } from '../../src/graph/graph-error.js';
import { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { expiresIfUnusedBy, REFRESH_TOKEN_INACTIVITY_MS } from '../../src/tokens/lifecycle-policy.js';
import { TokenError } from '../../src/tokens/token-error.js';
import { loadAccountTokens } from '../../src/vault/account-tokens.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { type LifecycleHarness, startLifecycleHarness } from './support/lifecycle-harness.js';

const MINUTE = 60;

for (const dialect of TEST_DIALECTS) {
  describe(`access-token provider [${dialect}]`, () => {
    let h: LifecycleHarness;
    let provider: AccessTokenProvider;
    let graph: GraphClient;
    let userCount = 0;

    /** A fresh work user in Contoso, so each test's changes stay its own. */
    function newUser(): User {
      userCount++;
      return createUser(h.emulator.ctx, {
        email: `provider-${dialect}-${userCount}@contoso.com`,
        password: DEMO_PASSWORD,
        displayName: `Provider User ${userCount}`,
      });
    }

    before(async () => {
      // A fixed 60-minute access-token lifetime makes "ahead of expiry" exact (Microsoft: random 60–90 min).
      h = await startLifecycleHarness({ dialect, settings: { accessTokenLifetimeSeconds: { min: 3600, max: 3600 } } });
      provider = new AccessTokenProvider(h.deps);
      graph = new GraphClient({ baseUrl: h.deps.microsoft.graphBaseUrl, fetch: h.deps.microsoft.fetch });
    });
    after(async () => {
      await h?.close();
    });

    test('reuses the stored token, refreshes ahead of expiry and stores the rotated refresh token', async () => {
      const accountId = await h.connect(newUser());
      const connected = await h.account(accountId);
      const before = h.tokenRequests();

      const first = await provider.getAccessToken(accountId);
      assert.equal(h.tokenRequests(), before, 'a fresh token is served from the vault');
      assert.equal(first.expiresAt, connected.access_token_expires_at);

      h.advance(50 * MINUTE);
      const still = await provider.getAccessToken(accountId);
      assert.equal(still.token.reveal(), first.token.reveal());
      assert.equal(h.tokenRequests(), before, 'outside the margin: no refresh');

      const refreshTokenBefore = (await loadAccountTokens(h.deps.db, h.deps.vault, accountId))?.refreshToken.reveal();
      h.advance(6 * MINUTE); // 56 minutes: inside the 5-minute margin, the old token still valid
      const refreshed = await provider.getAccessToken(accountId);
      assert.equal(h.tokenRequests(), before + 1, 'exactly one token request');
      assert.notEqual(refreshed.token.reveal(), first.token.reveal());
      assert.equal(refreshed.expiresAt, h.deps.clock.now() + 3600_000, 'expiresAt = issuedAt + expires_in');

      const row = await h.account(accountId);
      const stored = await loadAccountTokens(h.deps.db, h.deps.vault, accountId);
      assert.equal(stored?.accessToken?.reveal(), refreshed.token.reveal());
      assert.ok(stored && stored.refreshToken.reveal() !== refreshTokenBefore, 'the rotated refresh token is stored');
      assert.equal(row.access_token_expires_at, refreshed.expiresAt);
      assert.equal(row.last_refreshed_at, h.deps.clock.now());
      assert.equal(row.refresh_token_issued_at, h.deps.clock.now());
      assert.equal(expiresIfUnusedBy(row), h.deps.clock.now() + REFRESH_TOKEN_INACTIVITY_MS);
      assert.ok(row.next_keepalive_at !== null && row.next_keepalive_at > h.deps.clock.now() + 6 * 86_400_000);
      assert.equal(row.status, 'connected');
      const me = await graph.getMe(refreshed.token.reveal());
      assert.equal(me.data.mail, row.email, 'the new token works at Graph');

      h.advance(60 * MINUTE);
      const next = await provider.getAccessToken(accountId);
      assert.equal(h.tokenRequests(), before + 2, 'an expired token: one more refresh');
      assert.notEqual(next.token.reveal(), refreshed.token.reveal());
    });

    test('50 concurrent callers after 60 minutes: one refresh, one token', async () => {
      const accountId = await h.connect(newUser());
      h.advance(60 * MINUTE);
      const before = h.tokenRequests();
      // Two providers in one process (the outbox's and the worker's) share the single flight.
      const other = new AccessTokenProvider(h.deps);
      const tokens = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? provider : other).getAccessToken(accountId)),
      );
      assert.equal(h.tokenRequests(), before + 1);
      assert.equal(new Set(tokens.map((t) => t.token.reveal())).size, 1);
    });

    test('a Graph 401 refreshes once and repeats the call once', async () => {
      const user = newUser();
      const accountId = await h.connect(user);
      await provider.getAccessToken(accountId);
      // Graph stops accepting the issued token (as a CAE-capable resource does after a revocation event).
      deleteAccessTokens(h.emulator.ctx, { userId: user.id });
      const before = h.tokenRequests();
      const seen: string[] = [];
      const me = await provider.withAccessToken(accountId, async (token) => {
        seen.push(token.reveal());
        return graph.getMe(token.reveal());
      });
      assert.equal(me.data.id, user.id);
      assert.equal(seen.length, 2, 'called, refused, called again');
      assert.notEqual(seen[0], seen[1]);
      assert.equal(h.tokenRequests(), before + 1, 'exactly one refresh');
      assert.equal((await h.account(accountId)).status, 'connected');
    });

    test('a 401 that a fresh refresh does not cure: reconnect_required (token_invalid), recorded once', async () => {
      const accountId = await h.connect(newUser());
      const before = h.tokenRequests();
      let calls = 0;
      await assert.rejects(
        provider.withAccessToken(accountId, async (token) => {
          calls++;
          // A token Graph can never accept: every call answers 401 InvalidAuthenticationToken.
          return graph.getMe(`${token.reveal()}-mangled`);
        }),
        (error: unknown) => error instanceof GraphError && error.evidence.httpStatus === 401,
      );
      assert.equal(calls, 2);
      assert.equal(h.tokenRequests(), before + 1);
      const row = await h.account(accountId);
      assert.equal(row.status, 'reconnect_required');
      assert.equal(row.status_reason, 'token_invalid');
      assert.equal(row.next_keepalive_at, null);
      await assert.rejects(provider.getAccessToken(accountId), (error: unknown) => {
        assert.ok(error instanceof TokenError);
        assert.equal(error.code, 'TOKENS_ACCOUNT_UNAVAILABLE');
        assert.deepEqual(
          { status: error.details?.status, reason: error.details?.reason },
          { status: 'reconnect_required', reason: 'token_invalid' },
        );
        return true;
      });
      assert.equal(h.tokenRequests(), before + 1, 'an unusable account does not ask Microsoft');
    });

    test('an unknown account: TOKENS_ACCOUNT_NOT_FOUND', async () => {
      await assert.rejects(
        provider.getAccessToken('acc_nope'),
        (error: unknown) => error instanceof TokenError && error.code === 'TOKENS_ACCOUNT_NOT_FOUND',
      );
    });

    test('no token, code or secret in the log', () => {
      const text = h.logLines.join('\n');
      assert.doesNotMatch(text, /EwA[A-Za-z0-9_-]{20}/, 'an access token');
      assert.doesNotMatch(text, /M\.C5[A-Za-z0-9_-]{20}/, 'a refresh token');
      assert.ok(!text.includes(h.emulator.clientSecret), 'the client secret');
    });
  });
}
