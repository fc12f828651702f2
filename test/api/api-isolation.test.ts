import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  type ApiClient,
  assertSameSnapshot,
  createApiClient,
  dataKeyRows,
  type SeededAccount,
  seedAccount,
  snapshotDatabase,
  tokenRows,
} from './api-test-support.js';

/**
 * Organisation isolation: a second organisation's key sees none of the first's owners, accounts or events, and
 * cannot change them, even when it uses the same owner ids (owner ids are the host's, so two hosts may pick the
 * same ones).
 */
for (const dialect of TEST_DIALECTS) {
  describe(`host API: organisation isolation [${dialect}]`, () => {
    let service: TestService;
    let first: ApiClient;
    let second: ApiClient;
    let account: SeededAccount;

    before(async () => {
      service = await startTestService({ dialect });
      first = await createApiClient(service, 'First', ['https://first.example/back']);
      second = await createApiClient(service, 'Second', ['https://second.example/back']);
      account = await seedAccount(service, {
        organizationId: first.organization.id,
        ownerId: 'shared-id',
        email: 'one@first.example',
      });
      assert.equal(
        (await first.call('PUT', '/v1/owners/shared-id/email-provider', { provider: 'microsoft' })).status,
        200,
      );
    });
    after(() => service.close());

    it('the first organisation sees its own account, owner and events', async () => {
      assert.equal((await first.call('GET', `/v1/accounts/${account.id}`)).status, 200);
      assert.equal((await first.call('GET', '/v1/accounts')).body.data.length, 1);
      assert.equal((await first.call('GET', '/v1/owners/shared-id')).body.emailProvider, 'microsoft');
      assert.ok((await first.call('GET', '/v1/events')).body.data.length >= 1);
    });

    it('reads: 404 for the account and owner (the same answer as for ids that exist nowhere), empty lists', async () => {
      const foreign = await second.call('GET', `/v1/accounts/${account.id}`);
      const missing = await second.call('GET', `/v1/accounts/acc_${'0'.repeat(26)}`);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.error.code, 'ACCOUNT_NOT_FOUND');
      assert.deepEqual(Object.keys(foreign.body.error).sort(), Object.keys(missing.body.error).sort());
      assert.equal(missing.status, 404);

      assert.deepEqual((await second.call('GET', '/v1/accounts')).body, { data: [], nextCursor: null });
      assert.deepEqual((await second.call('GET', '/v1/accounts?ownerId=shared-id')).body, {
        data: [],
        nextCursor: null,
      });
      assert.deepEqual((await second.call('GET', `/v1/events?accountId=${account.id}`)).body, {
        data: [],
        nextCursor: null,
      });
      assert.deepEqual((await second.call('GET', '/v1/events')).body, { data: [], nextCursor: null });
      assert.equal((await second.call('GET', '/v1/owners/shared-id')).status, 404);

      const org = await second.call('GET', '/v1/organization');
      assert.equal(org.body.id, second.organization.id);
      assert.deepEqual(org.body.allowedReturnUrls, ['https://second.example/back']);
    });

    it("writes: cannot disconnect the account, delete the owner or change the owner's provider", async () => {
      const snapshot = await snapshotDatabase(service);
      const disconnect = await second.call('DELETE', `/v1/accounts/${account.id}`);
      assert.equal(disconnect.status, 404);
      assert.equal(disconnect.body.error.code, 'ACCOUNT_NOT_FOUND');
      // Deleting "shared-id" in the second organisation deletes nothing of the first (and there is nothing to delete).
      assert.equal((await second.call('DELETE', '/v1/owners/shared-id')).status, 204);
      const provider = await second.call('PUT', '/v1/owners/shared-id/email-provider', { provider: 'microsoft' });
      assert.equal(provider.status, 409);
      assert.equal(provider.body.error.code, 'OWNER_NO_CONNECTED_ACCOUNT');
      assertSameSnapshot(await snapshotDatabase(service), snapshot);

      assert.equal(await tokenRows(service, account.id), 1);
      assert.equal(await dataKeyRows(service, account.id), 1);
      const mine = await first.call('GET', `/v1/accounts/${account.id}`);
      assert.equal(mine.body.status, 'connected');
      assert.equal((await first.call('GET', '/v1/owners/shared-id')).body.emailProvider, 'microsoft');
    });

    it("a connect session for the same owner id creates the second organisation's own owner", async () => {
      const created = await second.call('POST', '/v1/connect-sessions', {
        ownerId: 'shared-id',
        returnUrl: 'https://second.example/back?x=1',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const owners = await service.deps.db
        .selectFrom('owners')
        .select(['organization_id', 'email_provider'])
        .where('external_id', '=', 'shared-id')
        .orderBy('organization_id')
        .execute();
      assert.equal(owners.length, 2);
      assert.deepEqual(
        owners.find((o) => o.organization_id === first.organization.id),
        { organization_id: first.organization.id, email_provider: 'microsoft' },
      );
      // The first organisation's allow-list does not apply to the second, nor the reverse.
      const crossed = await second.call('POST', '/v1/connect-sessions', {
        ownerId: 'shared-id',
        returnUrl: 'https://first.example/back',
      });
      assert.equal(crossed.status, 400);
      assert.equal(crossed.body.error.code, 'CONNECT_RETURN_URL_NOT_ALLOWED');
    });

    it("changing the second organisation's allow-list leaves the first's alone", async () => {
      const patched = await second.call('PATCH', '/v1/organization', {
        allowedReturnUrls: ['https://second.example/other', 'http://localhost:5173/cb'],
      });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.allowedReturnUrls, ['https://second.example/other', 'http://localhost:5173/cb']);
      assert.deepEqual((await first.call('GET', '/v1/organization')).body.allowedReturnUrls, [
        'https://first.example/back',
      ]);
    });
  });
}
