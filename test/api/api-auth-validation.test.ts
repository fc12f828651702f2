import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorSchema } from '../../src/http/common-schemas.js';
import { LAST_USED_WRITE_INTERVAL_MS, revokeApiKey } from '../../src/orgs/api-keys.js';
import { ManualClock } from '../../src/platform/clock.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  type ApiClient,
  assertSameSnapshot,
  callApi,
  createApiClient,
  seedAccount,
  snapshotDatabase,
} from './api-test-support.js';

for (const dialect of TEST_DIALECTS) {
  describe(`host API: authentication and validation [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;
    let accountId: string;
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));

    before(async () => {
      service = await startTestService({ dialect, clock });
      client = await createApiClient(service, 'Acme', ['https://app.example.com/connected']);
      accountId = (
        await seedAccount(service, { organizationId: client.organization.id, ownerId: 'u-1', email: 'a@example.com' })
      ).id;
    });
    after(() => service.close());

    describe('API keys', () => {
      it('answers 401 API_KEY_MISSING without an Authorization header, with a Bearer challenge', async () => {
        const answer = await callApi(service, 'GET', '/v1/accounts');
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error.code, 'API_KEY_MISSING');
        assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer /);
        errorSchema.parse(answer.body);
      });

      it('answers 401 API_KEY_INVALID for another scheme, a malformed, an unknown or a revoked key', async () => {
        const unknown = `mb_live_${'A'.repeat(43)}`;
        for (const header of [
          `Basic ${Buffer.from('a:b').toString('base64')}`,
          'Bearer',
          'Bearer nope',
          `Bearer ${unknown}`,
          client.key,
        ]) {
          const answer = await callApi(service, 'GET', '/v1/accounts', { authorization: header });
          assert.equal(answer.status, 401, header.slice(0, 12));
          assert.equal(answer.body.error.code, 'API_KEY_INVALID');
          assert.match(answer.headers.get('www-authenticate') ?? '', /invalid_token/);
        }
        const revoked = await createApiClient(service, 'Revoked Inc');
        assert.equal((await revoked.call('GET', '/v1/accounts')).status, 200);
        assert.equal(
          (await revokeApiKey(service.deps.db, clock, revoked.organization.id, revoked.apiKeyId))?.status,
          'revoked',
        );
        const answer = await revoked.call('GET', '/v1/accounts');
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error.code, 'API_KEY_INVALID');
      });

      it('authenticates before reading the body: a bad key with bad JSON is a 401, not a 400', async () => {
        const answer = await callApi(
          service,
          'POST',
          '/v1/connect-sessions',
          { authorization: 'Bearer nope', 'content-type': 'application/json' },
          '{not json',
        );
        assert.equal(answer.status, 401);
      });

      it('accepts the scheme in any case and records last use at most once a minute', async () => {
        const fresh = await createApiClient(service, 'Clocked');
        const lastUsed = async () =>
          (
            await service.deps.db
              .selectFrom('api_keys')
              .select('last_used_at')
              .where('id', '=', fresh.apiKeyId)
              .executeTakeFirstOrThrow()
          ).last_used_at;
        assert.equal(await lastUsed(), null);
        assert.equal(
          (await callApi(service, 'GET', '/v1/organization', { authorization: `bearer ${fresh.key}` })).status,
          200,
        );
        const first = Number(await lastUsed());
        assert.equal(first, clock.now());
        clock.advance(LAST_USED_WRITE_INTERVAL_MS - 1);
        await fresh.call('GET', '/v1/organization');
        assert.equal(Number(await lastUsed()), first);
        clock.advance(1);
        await fresh.call('GET', '/v1/organization');
        assert.equal(Number(await lastUsed()), first + LAST_USED_WRITE_INTERVAL_MS);
      });

      it('stores only the hash and a short prefix of a key', async () => {
        const row = await service.deps.db
          .selectFrom('api_keys')
          .selectAll()
          .where('id', '=', client.apiKeyId)
          .executeTakeFirstOrThrow();
        assert.ok(!JSON.stringify(row).includes(client.key.slice(14)));
        assert.ok(client.key.startsWith(row.key_prefix));
        assert.ok(row.key_prefix.length < 16);
      });

      it('serves the OpenAPI document without a key', async () => {
        const answer = await callApi(service, 'GET', '/v1/openapi.json');
        assert.equal(answer.status, 200);
        assert.equal(answer.body.openapi, '3.1.0');
      });
    });

    describe('validation: a precise 400 that changes nothing', () => {
      const cases: {
        name: string;
        method: string;
        path: () => string;
        body?: unknown;
        headers?: Record<string, string>;
        status: number;
        code: string;
        field?: string;
        location?: string;
      }[] = [
        { name: 'no body', method: 'POST', path: () => '/v1/connect-sessions', status: 400, code: 'REQUEST_INVALID' },
        {
          name: 'an empty JSON body',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: '',
          headers: { 'content-type': 'application/json' },
          status: 400,
          code: 'REQUEST_INVALID',
        },
        {
          name: 'a JSON body with __proto__',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: '{"name":"x","__proto__":{"admin":true}}',
          headers: { 'content-type': 'application/json' },
          status: 400,
          code: 'REQUEST_JSON_INVALID',
        },
        {
          name: 'ownerId missing',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: {},
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'ownerId',
          location: 'body',
        },
        {
          name: 'ownerId empty',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: '' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'ownerId',
        },
        {
          name: 'ownerId with a control character',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'a\u0000b' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'ownerId',
        },
        {
          name: 'ownerId too long',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'x'.repeat(256) },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'ownerId',
        },
        {
          name: 'unknown field',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', owner: 'x' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'owner',
        },
        {
          name: 'bad permission profile',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', permissionProfile: 'admin' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'permissionProfile',
        },
        {
          name: 'loginHint not an address',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', loginHint: 'bob' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'loginHint',
        },
        {
          name: 'expectedEmail not an address',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', expectedEmail: 'x y@z' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'expectedEmail',
        },
        {
          name: 'returnUrl off the allow-list',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', returnUrl: 'https://evil.example/connected' },
          status: 400,
          code: 'CONNECT_RETURN_URL_NOT_ALLOWED',
          field: 'returnUrl',
        },
        {
          name: 'returnUrl with a look-alike path',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', returnUrl: 'https://app.example.com/connected-evil' },
          status: 400,
          code: 'CONNECT_RETURN_URL_NOT_ALLOWED',
        },
        {
          name: 'body that is not JSON',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: '{"ownerId":',
          headers: { 'content-type': 'application/json' },
          status: 400,
          code: 'REQUEST_JSON_INVALID',
        },
        {
          name: 'a form body',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: 'ownerId=u-2',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          status: 415,
          code: 'REQUEST_CONTENT_TYPE_UNSUPPORTED',
        },
        {
          name: 'an XML body',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: '<ownerId/>',
          headers: { 'content-type': 'application/xml' },
          status: 415,
          code: 'REQUEST_CONTENT_TYPE_UNSUPPORTED',
        },
        {
          name: 'a body over the limit',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: { ownerId: 'u-2', loginHint: `${'x'.repeat(70_000)}@example.com` },
          status: 413,
          code: 'REQUEST_BODY_TOO_LARGE',
        },
        {
          name: 'a JSON array body',
          method: 'POST',
          path: () => '/v1/connect-sessions',
          body: [{ ownerId: 'u-2' }],
          status: 400,
          code: 'REQUEST_INVALID',
        },
        {
          name: 'limit 0',
          method: 'GET',
          path: () => '/v1/accounts?limit=0',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'limit',
          location: 'query',
        },
        {
          name: 'limit not a number',
          method: 'GET',
          path: () => '/v1/accounts?limit=ten',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'limit',
        },
        {
          name: 'limit over 200',
          method: 'GET',
          path: () => '/v1/accounts?limit=201',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'limit',
        },
        {
          name: 'unknown status',
          method: 'GET',
          path: () => '/v1/accounts?status=happy',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'status',
        },
        {
          name: 'unknown query parameter',
          method: 'GET',
          path: () => '/v1/accounts?owner=u-1',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'owner',
        },
        {
          name: 'repeated query parameter',
          method: 'GET',
          path: () => '/v1/accounts?status=connected&status=degraded',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'status',
        },
        {
          name: 'malformed account id',
          method: 'GET',
          path: () => '/v1/accounts/123',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'id',
          location: 'path',
        },
        {
          name: 'malformed account id on delete',
          method: 'DELETE',
          path: () => '/v1/accounts/acc_x',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'id',
        },
        {
          name: 'unknown email provider',
          method: 'PUT',
          path: () => '/v1/owners/u-1/email-provider',
          body: { provider: 'gmail' },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'provider',
        },
        {
          name: 'email provider without body',
          method: 'PUT',
          path: () => '/v1/owners/u-1/email-provider',
          status: 400,
          code: 'REQUEST_INVALID',
        },
        {
          name: 'event type malformed',
          method: 'GET',
          path: () => '/v1/events?type=DROP%20TABLE',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'type',
        },
        {
          name: 'event accountId malformed',
          method: 'GET',
          path: () => '/v1/events?accountId=1',
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'accountId',
        },
        {
          name: 'event cursor malformed',
          method: 'GET',
          path: () => "/v1/events?after=x'--",
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'after',
        },
        {
          name: 'empty organisation patch',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: {},
          status: 400,
          code: 'REQUEST_INVALID',
        },
        {
          name: 'javascript: return URL',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: { allowedReturnUrls: ['javascript:alert(1)'] },
          status: 400,
          code: 'ORG_RETURN_URL_INVALID',
        },
        {
          name: 'plain-http return URL',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: { allowedReturnUrls: ['https://ok.example/', 'http://app.example.com/'] },
          status: 400,
          code: 'ORG_RETURN_URL_INVALID',
        },
        {
          name: 'return URL with userinfo',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: { allowedReturnUrls: ['https://user@app.example.com/'] },
          status: 400,
          code: 'ORG_RETURN_URL_INVALID',
        },
        {
          name: 'return URLs not strings',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: { allowedReturnUrls: [1] },
          status: 400,
          code: 'REQUEST_INVALID',
          field: 'allowedReturnUrls.0',
        },
        {
          name: 'blank organisation name',
          method: 'PATCH',
          path: () => '/v1/organization',
          body: { name: '   ' },
          status: 400,
          code: 'ORG_NAME_INVALID',
        },
      ];

      for (const c of cases) {
        it(`${c.method} ${c.name} → ${c.status} ${c.code}`, async () => {
          const before = await snapshotDatabase(service);
          const answer = await client.call(c.method, c.path(), c.body, c.headers);
          assert.equal(answer.status, c.status, JSON.stringify(answer.body));
          assert.equal(answer.body.error.code, c.code);
          assert.ok(answer.body.error.message.length > 10);
          errorSchema.parse(answer.body);
          if (c.field !== undefined) {
            const issues: { field: string; location: string }[] = answer.body.error.details.issues;
            const issue = issues.find((i) => i.field === c.field);
            assert.ok(issue, `no issue names ${c.field}: ${JSON.stringify(issues)}`);
            if (c.location) assert.equal(issue.location, c.location);
          }
          assertSameSnapshot(await snapshotDatabase(service), before);
        });
      }

      it('a DELETE with "Content-Type: application/json" and no body is not an error', async () => {
        const answer = await client.call('DELETE', '/v1/owners/nobody-here', undefined, {
          'content-type': 'application/json',
        });
        assert.equal(answer.status, 204);
      });

      it('a valid request of the same shape goes through (the cases above fail for their stated reason)', async () => {
        const answer = await client.call('GET', `/v1/accounts/${accountId}`);
        assert.equal(answer.status, 200);
        const list = await client.call('GET', '/v1/accounts?limit=200&status=connected&ownerId=u-1');
        assert.equal(list.status, 200);
        assert.equal(list.body.data.length, 1);
      });
    });
  });
}
