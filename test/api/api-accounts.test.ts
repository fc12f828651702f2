import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountListSchema, accountSchema } from '../../src/api/api-schemas.js';
import { eventListSchema } from '../../src/api/event-schemas.js';
import { remediationFor } from '../../src/health/remediation.js';
import { ManualClock } from '../../src/platform/clock.js';
import { loadAccountTokens } from '../../src/vault/account-tokens.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { type ApiClient, createApiClient, dataKeyRows, seedAccount, tokenRows } from './api-test-support.js';

const DAY = 86_400_000;

for (const dialect of TEST_DIALECTS) {
  describe(`host API: accounts, disconnect and events [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;
    const clock = new ManualClock(Date.parse('2030-03-01T08:00:00Z'));

    before(async () => {
      service = await startTestService({ dialect, clock });
      client = await createApiClient(service, 'Accounts Inc');
    });
    after(() => service.close());

    it('pages through accounts with limit and after, in creation order, without gaps or repeats', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(1000);
        ids.push(
          (
            await seedAccount(service, {
              organizationId: client.organization.id,
              ownerId: 'pager',
              email: `p${i}@example.com`,
            })
          ).id,
        );
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const answer = await client.call(
          'GET',
          `/v1/accounts?ownerId=pager&limit=2${cursor ? `&after=${cursor}` : ''}`,
        );
        assert.equal(answer.status, 200);
        const page = accountListSchema.parse(answer.body);
        assert.ok(page.data.length <= 2);
        seen.push(...page.data.map((a) => a.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids);
      // A page that ends exactly at the last account says so.
      const exact = await client.call('GET', `/v1/accounts?ownerId=pager&limit=5`);
      assert.equal(exact.body.data.length, 5);
      assert.equal(exact.body.nextCursor, null);
    });

    it('shows status, reason, remediation, scopes and "expires if unused by"; filters by status and owner', async () => {
      const evidence = {
        source: 'token_endpoint',
        httpStatus: 400,
        error: 'invalid_grant',
        errorCodes: [50173],
        requestSent: 'yes',
        traceId: 'trace-1',
      };
      const broken = await seedAccount(service, {
        organizationId: client.organization.id,
        ownerId: 'viewer',
        email: 'viewer@example.com',
        status: 'reconnect_required',
        reason: 'password_changed',
        evidence,
      });
      const answer = await client.call('GET', `/v1/accounts/${broken.id}`);
      assert.equal(answer.status, 200);
      const view = accountSchema.parse(answer.body);
      assert.equal(view.ownerId, 'viewer');
      assert.equal(view.email, 'viewer@example.com');
      assert.equal(view.status, 'reconnect_required');
      assert.equal(view.reason, 'password_changed');
      assert.deepEqual(
        view.remediation,
        remediationFor({ status: 'reconnect_required', reason: 'password_changed', evidence: evidence as never }),
      );
      assert.deepEqual(view.evidence, evidence);
      assert.ok(view.scopes.includes('Mail.Send'));
      assert.equal(view.expiresIfUnusedBy, new Date(clock.now() + 90 * DAY).toISOString());
      assert.equal(view.connectedAt, new Date(clock.now()).toISOString());
      assert.ok(!JSON.stringify(answer.body).includes(broken.refreshToken));
      assert.ok(!JSON.stringify(answer.body).includes(broken.accessToken));

      const byStatus = await client.call('GET', '/v1/accounts?status=reconnect_required');
      assert.deepEqual(
        byStatus.body.data.map((a: { id: string }) => a.id),
        [broken.id],
      );
      const byOwner = await client.call('GET', '/v1/accounts?ownerId=viewer&status=connected');
      assert.deepEqual(byOwner.body.data, []);
    });

    it('a stored reason that does not belong to its status reads as unknown, never as a crash', async () => {
      const odd = await seedAccount(service, {
        organizationId: client.organization.id,
        ownerId: 'odd',
        email: 'odd@example.com',
        status: 'degraded',
        reason: 'no_such_reason',
      });
      const view = accountSchema.parse((await client.call('GET', `/v1/accounts/${odd.id}`)).body);
      assert.equal(view.status, 'degraded');
      assert.deepEqual(
        view.remediation,
        remediationFor({ status: 'unknown', evidence: { source: 'network', errorCodes: [], requestSent: 'unknown' } }),
      );
    });

    it('disconnect crypto-shreds the tokens and data key, sets disconnected, clears schedules, records the event', async () => {
      const account = await seedAccount(service, {
        organizationId: client.organization.id,
        ownerId: 'leaver',
        email: 'leaver@example.com',
      });
      assert.ok(await loadAccountTokens(service.deps.db, service.deps.vault, account.id));
      assert.equal(await dataKeyRows(service, account.id), 1);
      clock.advance(5000);

      const answer = await client.call('DELETE', `/v1/accounts/${account.id}`);
      assert.equal(answer.status, 200);
      const view = accountSchema.parse(answer.body);
      assert.equal(view.status, 'disconnected');
      assert.equal(view.reason, 'user_disconnected');
      assert.equal(view.expiresIfUnusedBy, null);
      assert.equal(view.statusChangedAt, new Date(clock.now()).toISOString());
      assert.equal(view.remediation.title, remediationFor({ status: 'disconnected' }).title);

      assert.equal(await tokenRows(service, account.id), 0);
      assert.equal(await dataKeyRows(service, account.id), 0);
      assert.equal(await loadAccountTokens(service.deps.db, service.deps.vault, account.id), undefined);
      const row = await service.deps.db
        .selectFrom('accounts')
        .selectAll()
        .where('id', '=', account.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.next_keepalive_at, null);
      assert.equal(row.next_health_check_at, null);
      assert.equal(row.refresh_retry_at, null);

      const events = eventListSchema.parse(
        (await client.call('GET', `/v1/events?accountId=${account.id}&type=account.disconnected`)).body,
      );
      assert.equal(events.data.length, 1);
      assert.equal(events.data[0]?.ownerId, 'leaver');
      assert.equal(events.data[0]?.data['reason'], 'user_disconnected');
      assert.equal(events.data[0]?.data['emailProvider'], undefined);

      // Idempotent: 200 with the same view, no second event, still no tokens.
      const again = await client.call('DELETE', `/v1/accounts/${account.id}`);
      assert.equal(again.status, 200);
      assert.equal(again.body.status, 'disconnected');
      assert.equal(again.body.statusChangedAt, view.statusChangedAt);
      const eventsAgain = await client.call('GET', `/v1/events?accountId=${account.id}&type=account.disconnected`);
      assert.equal(eventsAgain.body.data.length, 1);
      // The account stays listed (as disconnected) so the host can show it and reconnecting keeps its id.
      assert.equal((await client.call('GET', `/v1/accounts/${account.id}`)).body.status, 'disconnected');
    });

    it("disconnecting an owner's last Microsoft account falls back to the default provider, and says so", async () => {
      const one = await seedAccount(service, {
        organizationId: client.organization.id,
        ownerId: 'pat',
        email: 'pat1@example.com',
      });
      const two = await seedAccount(service, {
        organizationId: client.organization.id,
        ownerId: 'pat',
        email: 'pat2@example.com',
      });
      const chosen = await client.call('PUT', '/v1/owners/pat/email-provider', { provider: 'microsoft' });
      assert.deepEqual(chosen.body, { ownerId: 'pat', emailProvider: 'microsoft' });

      await client.call('DELETE', `/v1/accounts/${one.id}`);
      assert.equal((await client.call('GET', '/v1/owners/pat')).body.emailProvider, 'microsoft');
      const first = await client.call('GET', `/v1/events?accountId=${one.id}&type=account.disconnected`);
      assert.equal(first.body.data[0].data.emailProvider, undefined);

      await client.call('DELETE', `/v1/accounts/${two.id}`);
      assert.equal((await client.call('GET', '/v1/owners/pat')).body.emailProvider, 'default');
      const second = await client.call('GET', `/v1/events?accountId=${two.id}&type=account.disconnected`);
      assert.deepEqual(second.body.data[0].data.emailProvider, { from: 'microsoft', to: 'default' });

      const again = await client.call('PUT', '/v1/owners/pat/email-provider', { provider: 'microsoft' });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'OWNER_NO_CONNECTED_ACCOUNT');
    });

    it('pages through events with after, limit and type filters', async () => {
      const all: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const answer = await client.call('GET', `/v1/events?limit=3${cursor ? `&after=${cursor}` : ''}`);
        const page = eventListSchema.parse(answer.body);
        all.push(...page.data.map((e) => e.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 50);
      const everything = eventListSchema.parse((await client.call('GET', '/v1/events?limit=200')).body);
      assert.deepEqual(
        all,
        everything.data.map((e) => e.id),
      );
      assert.ok(all.length >= 10);
      assert.equal(new Set(all).size, all.length);
      const connected = eventListSchema.parse(
        (await client.call('GET', '/v1/events?type=account.connected&limit=200')).body,
      );
      assert.ok(connected.data.length > 0);
      assert.ok(connected.data.every((e) => e.type === 'account.connected'));
      const after = eventListSchema.parse((await client.call('GET', `/v1/events?after=${all.at(-1)}`)).body);
      assert.deepEqual(after, { data: [], nextCursor: null });
    });
  });
}
