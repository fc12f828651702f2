import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findAccountForOrgOrThrow } from '../../src/accounts/account-view.js';
import {
  authenticateApiKey,
  authenticateApiKeyWithAccount,
  createApiKey,
  revokeApiKey,
} from '../../src/orgs/api-keys.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { StatementCounter } from '../support/statement-counter.js';
import { type ApiClient, callApi, createApiClient, seedAccount } from './api-test-support.js';

const DAY_MS = 86_400_000;

for (const dialect of TEST_DIALECTS) {
  describe(`host API: API keys [${dialect}]`, () => {
    let service: TestService;
    let standard: ApiClient;
    let adminKey: string;
    let adminKeyId: string;
    let otherAdminKey: string;
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const asAdmin = (method: string, path: string, body?: unknown, key = adminKey) =>
      callApi(service, method, path, { authorization: `Bearer ${key}` }, body);
    const keyRows = () => service.deps.db.selectFrom('api_keys').selectAll().execute();

    before(async () => {
      service = await startTestService({ dialect, clock });
      standard = await createApiClient(service, 'Acme');
      const admin = await createApiKey(service.deps.db, clock, standard.organization.id, 'ops', { scope: 'admin' });
      adminKey = admin.key;
      adminKeyId = admin.id;
      const other = await createOrganization(service.deps.db, clock, { name: 'Globex', allowedReturnUrls: [] });
      otherAdminKey = (await createApiKey(service.deps.db, clock, other.id, 'globex ops', { scope: 'admin' })).key;
    });
    after(() => service.close());

    it('refuses key management to a standard key with 403 API_KEY_SCOPE_INSUFFICIENT, creating nothing', async () => {
      const before = await keyRows();
      for (const [method, path, body] of [
        ['GET', '/v1/api-keys', undefined],
        ['POST', '/v1/api-keys', { name: 'sneaky', scope: 'admin' }],
        ['DELETE', `/v1/api-keys/${adminKeyId}`, undefined],
      ] as const) {
        const answer = await standard.call(method, path, body);
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.error.code, 'API_KEY_SCOPE_INSUFFICIENT');
      }
      assert.equal((await keyRows()).length, before.length);
      assert.equal(
        (await asAdmin('GET', `/v1/api-keys`)).body.data.find((k: { id: string }) => k.id === adminKeyId)?.status,
        'active',
      );
    });

    it('creates a key shown once, lists keys without secrets, and revokes a key at once', async () => {
      const expiresAt = new Date(clock.now() + 30 * DAY_MS).toISOString();
      const created = await asAdmin('POST', '/v1/api-keys', { name: 'ci pipeline', expiresAt });
      assert.equal(created.status, 201);
      assert.match(created.body.key, /^mb_live_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.body.scope, 'standard');
      assert.equal(created.body.status, 'active');
      assert.equal(created.body.createdBy, `api:${adminKeyId}`);
      assert.equal(created.body.expiresAt, expiresAt);
      const key: string = created.body.key;
      assert.equal((await callApi(service, 'GET', '/v1/accounts', { authorization: `Bearer ${key}` })).status, 200);

      const list = await asAdmin('GET', '/v1/api-keys');
      assert.equal(list.status, 200);
      const listed = list.body.data.find((k: { id: string }) => k.id === created.body.id);
      assert.deepEqual(
        { name: listed.name, scope: listed.scope, status: listed.status, prefix: listed.prefix },
        { name: 'ci pipeline', scope: 'standard', status: 'active', prefix: key.slice(0, 14) },
      );
      assert.ok(listed.lastUsedAt, 'the use above is recorded');
      const text = JSON.stringify(list.body);
      assert.ok(!text.includes(key.slice(14)), 'no secret in the list');
      const row = (await keyRows()).find((r) => r.id === created.body.id);
      assert.ok(row && !JSON.stringify(row).includes(key.slice(14)), 'only the hash is stored');

      const revoked = await asAdmin('DELETE', `/v1/api-keys/${created.body.id}`);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.status, 'revoked');
      const refused = await callApi(service, 'GET', '/v1/accounts', { authorization: `Bearer ${key}` });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.code, 'API_KEY_INVALID');

      clock.advance(5_000);
      const again = await asAdmin('DELETE', `/v1/api-keys/${created.body.id}`);
      assert.equal(again.status, 200);
      assert.equal(again.body.revokedAt, revoked.body.revokedAt, 'a second revocation changes nothing');
    });

    it('refuses an expired key and lists it as expired', async () => {
      const created = await asAdmin('POST', '/v1/api-keys', {
        name: 'short-lived',
        scope: 'admin',
        expiresAt: new Date(clock.now() + DAY_MS).toISOString(),
      });
      assert.equal(created.status, 201);
      assert.equal((await asAdmin('GET', '/v1/api-keys', undefined, created.body.key)).status, 200, 'admin scope');
      clock.advance(DAY_MS);
      const refused = await asAdmin('GET', '/v1/api-keys', undefined, created.body.key);
      assert.equal(refused.status, 401);
      const listed = (await asAdmin('GET', '/v1/api-keys')).body.data.find(
        (k: { id: string }) => k.id === created.body.id,
      );
      assert.equal(listed.status, 'expired');
    });

    it('keeps organisations apart: another organisation neither sees nor revokes these keys', async () => {
      const theirs = await asAdmin('GET', '/v1/api-keys', undefined, otherAdminKey);
      assert.equal(theirs.status, 200);
      assert.ok(!theirs.body.data.some((k: { id: string }) => k.id === adminKeyId));
      const attempt = await asAdmin('DELETE', `/v1/api-keys/${standard.apiKeyId}`, undefined, otherAdminKey);
      assert.equal(attempt.status, 404);
      assert.equal(attempt.body.error.code, 'API_KEY_NOT_FOUND');
      assert.equal((await standard.call('GET', '/v1/accounts')).status, 200, 'the key still works');
    });

    it("reads the key and the account a request names in one statement, in the key's organisation only", async () => {
      const mine = await seedAccount(service, {
        organizationId: standard.organization.id,
        ownerId: 'user-along-with-key',
        email: 'along@example.com',
      });
      const counter = new StatementCounter();
      const db = service.deps.db.withPlugin(counter);
      // The key was used just now: no `last_used_at` write, so the count is the read's.
      await authenticateApiKey(db, clock, standard.key);
      counter.count = 0;
      const found = await authenticateApiKeyWithAccount(db, clock, standard.key, mine.id);
      assert.equal(counter.count, 1, 'one statement for the key and the account');
      assert.deepEqual(found?.auth, {
        organizationId: standard.organization.id,
        apiKeyId: standard.apiKeyId,
        scope: 'standard',
      });
      const direct = await findAccountForOrgOrThrow(service.deps.db, standard.organization.id, mine.id);
      assert.deepEqual(found?.account, direct, 'the account row as the account module reads it');

      const foreign = await authenticateApiKeyWithAccount(db, clock, otherAdminKey, mine.id);
      assert.ok(foreign, "the other organisation's key authenticates");
      assert.notEqual(foreign.auth.organizationId, standard.organization.id);
      assert.equal(foreign.account, undefined, "another organisation's account reads as none");
      const unknown = await authenticateApiKeyWithAccount(db, clock, standard.key, 'acc_00000000000000000000000000');
      assert.equal(unknown?.account, undefined);

      const revoked = await createApiKey(service.deps.db, clock, standard.organization.id, 'revoked along');
      await revokeApiKey(service.deps.db, clock, standard.organization.id, revoked.id);
      assert.equal(
        await authenticateApiKeyWithAccount(db, clock, revoked.key, mine.id),
        undefined,
        'a revoked key tells nothing, not even the account',
      );
    });

    it('refuses bad input with a precise 400 and creates nothing', async () => {
      const before = await keyRows();
      const past = new Date(clock.now() - 1000).toISOString();
      const cases: Array<[unknown, string]> = [
        [{ name: 'x', expiresAt: past }, 'API_KEY_EXPIRY_INVALID'],
        [{ name: 'x', expiresAt: '2031-02-30T00:00:00Z' }, 'REQUEST_INVALID'],
        [{ name: 'x', scope: 'root' }, 'REQUEST_INVALID'],
        [{ name: '' }, 'REQUEST_INVALID'],
        [{ name: 'x', extra: true }, 'REQUEST_INVALID'],
        [{}, 'REQUEST_INVALID'],
      ];
      for (const [body, code] of cases) {
        const answer = await asAdmin('POST', '/v1/api-keys', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.error.code, code, JSON.stringify(body));
      }
      const malformed = await asAdmin('DELETE', '/v1/api-keys/not-a-key');
      assert.equal(malformed.status, 400);
      assert.equal((await keyRows()).length, before.length);
    });
  });
}
