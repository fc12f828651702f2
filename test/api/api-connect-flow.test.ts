import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountListSchema, accountSchema, connectSessionSchema } from '../../src/api/api-schemas.js';
import {
  Browser,
  connectThroughMicrosoft,
  elementAttribute,
  outcomeStatus,
  startAtMicrosoft,
} from '../connect/connect-test-kit.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { type ApiClient, createApiClient, dataKeyRows, tokenRows } from './api-test-support.js';

const RETURN_URL = 'https://host.example/mailbridge/done';
const DAY = 86_400_000;

/**
 * The host API end to end, as a host product uses it: create a connect session, send the user through the hosted
 * flow (a scripted sign-in at the emulator standing in for Microsoft), then list, choose, disconnect and delete.
 */
for (const dialect of TEST_DIALECTS) {
  describe(`host API through the real connect flow [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;
    let accountId: string;

    before(async () => {
      service = await startTestService({ dialect });
      client = await createApiClient(service, 'Host Product', [RETURN_URL]);
    });
    after(() => service.close());

    async function connect(ownerId: string, email: string, outcome = 'connected'): Promise<string> {
      const created = await client.call('POST', '/v1/connect-sessions', {
        ownerId,
        permissionProfile: 'send',
        returnUrl: `${RETURN_URL}?ref=42`,
        loginHint: email,
        expectedEmail: email,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const session = connectSessionSchema.parse(created.body);
      assert.equal(session.url, `${service.url}/connect/${session.id}`);
      assert.ok(Date.parse(session.expiresAt) > Date.now());
      const { page } = await connectThroughMicrosoft(service, new Browser(), session.id, { email });
      assert.equal(outcomeStatus(page.html), outcome);
      const back = new URL(elementAttribute(page.html, 'continue', 'href') ?? '');
      assert.equal(`${back.origin}${back.pathname}`, RETURN_URL);
      return back.searchParams.get('account_id') ?? '';
    }

    it('a connect session ends with the account listed as connected, with its address and scopes', async () => {
      const email = service.emulator.seed.users.personal.email;
      accountId = await connect('user-7', email);
      const list = accountListSchema.parse((await client.call('GET', '/v1/accounts?ownerId=user-7')).body);
      assert.equal(list.data.length, 1);
      const account = list.data[0];
      assert.ok(account);
      assert.equal(account.id, accountId);
      assert.equal(account.email, email);
      assert.equal(account.status, 'connected');
      assert.equal(account.reason, null);
      assert.equal(account.permissionProfile, 'send');
      assert.ok(account.scopes.includes('Mail.Send'));
      assert.ok(!account.scopes.includes('Mail.ReadWrite'));
      assert.ok(account.expiresIfUnusedBy);
      const untilExpiry = Date.parse(account.expiresIfUnusedBy) - Date.now();
      assert.ok(untilExpiry > 89 * DAY && untilExpiry <= 90 * DAY, `expires if unused in ${untilExpiry / DAY} days`);
      assert.ok(account.accessTokenExpiresAt && Date.parse(account.accessTokenExpiresAt) > Date.now());

      const events = (await client.call('GET', `/v1/events?accountId=${accountId}`)).body.data;
      assert.ok(events.some((e: { type: string }) => e.type === 'account.connected'));
    });

    it('"Personal Outlook" can be chosen once connected; disconnect shreds the tokens and falls back', async () => {
      assert.deepEqual((await client.call('PUT', '/v1/owners/user-7/email-provider', { provider: 'microsoft' })).body, {
        ownerId: 'user-7',
        emailProvider: 'microsoft',
      });
      assert.equal(await tokenRows(service, accountId), 1);
      assert.equal(await dataKeyRows(service, accountId), 1);

      const disconnected = accountSchema.parse((await client.call('DELETE', `/v1/accounts/${accountId}`)).body);
      assert.equal(disconnected.status, 'disconnected');
      assert.equal(await tokenRows(service, accountId), 0);
      assert.equal(await dataKeyRows(service, accountId), 0);
      assert.equal((await client.call('GET', '/v1/owners/user-7')).body.emailProvider, 'default');
    });

    it('reconnecting the same mailbox brings back the same account id, connected', async () => {
      const again = await connect('user-7', service.emulator.seed.users.personal.email, 'reconnected');
      assert.equal(again, accountId);
      const view = accountSchema.parse((await client.call('GET', `/v1/accounts/${accountId}`)).body);
      assert.equal(view.status, 'connected');
      assert.equal(await tokenRows(service, accountId), 1);
    });

    it("deleting the owner removes the account, its tokens and data key, and the owner's sessions", async () => {
      const sessions = await service.deps.db
        .selectFrom('connect_sessions')
        .select('id')
        .where('owner_external_id', '=', 'user-7')
        .execute();
      assert.equal(sessions.length, 2);
      assert.equal((await client.call('DELETE', '/v1/owners/user-7')).status, 204);
      assert.equal((await client.call('GET', `/v1/accounts/${accountId}`)).status, 404);
      assert.equal(await tokenRows(service, accountId), 0);
      assert.equal(await dataKeyRows(service, accountId), 0);
      for (const session of sessions) assert.equal(await dataKeyRows(service, session.id), 0);
      const left = await service.deps.db
        .selectFrom('connect_sessions')
        .select('id')
        .where('owner_external_id', '=', 'user-7')
        .execute();
      assert.deepEqual(left, []);
      assert.deepEqual((await client.call('GET', '/v1/accounts')).body, { data: [], nextCursor: null });
    });

    it('GET /v1/connect-sessions/{id} and connect.* events say how each session ended', async () => {
      const created = await client.call('POST', '/v1/connect-sessions', { ownerId: 'user-8', returnUrl: RETURN_URL });
      const id: string = created.body.id;
      const pending = await client.call('GET', `/v1/connect-sessions/${id}`);
      assert.equal(pending.status, 200);
      assert.deepEqual([pending.body.state, pending.body.outcome, pending.body.ownerId], ['pending', null, 'user-8']);

      const email = service.emulator.seed.users.work.email;
      await connectThroughMicrosoft(service, new Browser(), id, { email });
      const done = (await client.call('GET', `/v1/connect-sessions/${id}`)).body;
      assert.equal(done.state, 'completed');
      assert.deepEqual(done.outcome, { status: 'connected', reason: null });
      assert.match(done.accountId, /^acc_/);
      const completed = (await client.call('GET', '/v1/events?type=connect.completed')).body.data;
      assert.deepEqual(
        completed.map((event: { data: Record<string, unknown> }) => event.data),
        [{ connectSessionId: id, ownerId: 'user-8', status: 'connected', accountId: done.accountId }],
      );

      // The user backs out at Microsoft: the session reports it, and so does a signed event.
      const second = (await client.call('POST', '/v1/connect-sessions', { ownerId: 'user-9' })).body.id as string;
      const browser = new Browser();
      const authorizeUrl = new URL(await startAtMicrosoft(service, browser, second));
      await browser.get(
        `${service.url}/connect/callback?${new URLSearchParams({
          error: 'access_denied',
          error_subcode: 'cancel',
          state: authorizeUrl.searchParams.get('state') ?? '',
        })}`,
      );
      const cancelled = (await client.call('GET', `/v1/connect-sessions/${second}`)).body;
      assert.deepEqual([cancelled.state, cancelled.outcome], ['failed', { status: 'cancelled', reason: null }]);
      const events = (await client.call('GET', '/v1/events?type=connect.cancelled')).body.data;
      assert.deepEqual(
        events.map((event: { data: Record<string, unknown> }) => event.data),
        [{ connectSessionId: second, ownerId: 'user-9', status: 'cancelled', reason: null }],
      );

      // Another organisation's key sees no such session; a malformed id is refused.
      const stranger = await createApiClient(service, 'Stranger');
      const hidden = await stranger.call('GET', `/v1/connect-sessions/${id}`);
      assert.equal(hidden.status, 404);
      assert.equal(hidden.body.error.code, 'CONNECT_SESSION_NOT_FOUND');
      assert.equal((await client.call('GET', '/v1/connect-sessions/nope')).status, 400);
    });
  });
}
