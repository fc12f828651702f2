import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { upsertConnectedAccount } from '../../src/accounts/upsert-connected-account.js';
import { CONSUMER_TENANT_ID } from '../../src/microsoft/tenants.js';
import { ManualClock } from '../../src/platform/clock.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';
import { warmupAccountSchema, warmupPoolSchema } from '../../src/warmup/warmup-api.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { type ApiClient, createApiClient } from './api-test-support.js';

const WORK_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SEND_SCOPES = ['openid', 'profile', 'email', 'User.Read', 'Mail.Send'];
const WARMUP_SCOPES = [...SEND_SCOPES, 'Mail.ReadWrite', 'MailboxSettings.ReadWrite'];

for (const dialect of TEST_DIALECTS) {
  describe(`host API: warm-up [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;
    let other: ApiClient;
    const clock = new ManualClock(Date.parse('2030-03-04T09:00:00Z'));
    const tokens: string[] = [];

    /** A mailbox connected the way the connect flow stores one (the same tid + oid again is a reconnect). */
    async function connect(
      organizationId: string,
      email: string,
      profile: 'send' | 'warmup',
      identity = { tenantId: WORK_TENANT, objectId: randomUUID() },
    ): Promise<{ id: string; identity: typeof identity }> {
      const accessToken = `at-${randomUUID()}`;
      const refreshToken = `rt-${randomUUID()}`;
      tokens.push(accessToken, refreshToken);
      const result = await upsertConnectedAccount(service.deps, {
        organizationId,
        ownerExternalId: `owner-${email}`,
        permissionProfile: profile,
        grantedScopes: profile === 'warmup' ? WARMUP_SCOPES : SEND_SCOPES,
        identity: { ...identity, email, displayName: null },
        tokens: {
          accessToken: PlaintextSecret.from(accessToken),
          refreshToken: PlaintextSecret.from(refreshToken),
          expiresInSeconds: 3600,
        },
      });
      return { id: result.accountId, identity };
    }

    async function warmupRows(accountId: string) {
      return service.deps.db.selectFrom('warmup_accounts').selectAll().where('account_id', '=', accountId).execute();
    }

    async function eventsOf(type: string, accountId: string) {
      const answer = await client.call('GET', `/v1/events?type=${type}&accountId=${accountId}`);
      assert.equal(answer.status, 200);
      return answer.body.data as Array<{ type: string; data: Record<string, unknown> }>;
    }

    before(async () => {
      service = await startTestService({ dialect, clock });
      client = await createApiClient(service, 'Warm Inc');
      other = await createApiClient(service, 'Other Inc');
    });
    after(() => service.close());

    it('a send-only account: 409 WARMUP_PROFILE_REQUIRED with how to reconnect; after the reconnect it enables', async () => {
      const mailbox = await connect(client.organization.id, 'sender@contoso.example', 'send');
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', { enabled: true }],
      ] as const) {
        const answer = await client.call(method, `/v1/accounts/${mailbox.id}/warmup`, body);
        assert.equal(answer.status, 409, method);
        assert.equal(answer.body.error.code, 'WARMUP_PROFILE_REQUIRED');
        assert.match(answer.body.error.message, /permissionProfile "warmup"/);
        assert.match(answer.body.error.details.remediation.operator, /POST \/v1\/connect-sessions/);
      }
      assert.deepEqual(await warmupRows(mailbox.id), [], 'nothing stored for a refused account');

      // The remediation's connect session is accepted as described…
      const session = await client.call('POST', '/v1/connect-sessions', {
        ownerId: 'owner-sender@contoso.example',
        permissionProfile: 'warmup',
      });
      assert.equal(session.status, 201);
      // …and the reconnect it leads to (same mailbox, warm-up permissions) keeps the account id.
      const again = await connect(client.organization.id, 'sender@contoso.example', 'warmup', mailbox.identity);
      assert.equal(again.id, mailbox.id);
      const enabled = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true });
      assert.equal(enabled.status, 200);
      assert.equal(enabled.body.state.status, 'active');
    });

    it('GET before enabling: off, no figures yet, every figure scoped to the warm-up network', async () => {
      const mailbox = await connect(client.organization.id, 'fresh@contoso.example', 'warmup');
      const answer = await client.call('GET', `/v1/accounts/${mailbox.id}/warmup`);
      assert.equal(answer.status, 200);
      const view = warmupAccountSchema.parse(answer.body);
      assert.equal(view.enabled, false);
      assert.equal(view.state.status, 'off');
      assert.equal(view.provider, 'microsoft365');
      assert.deepEqual(view.nextSlots, []);
      assert.equal(view.health, null);
      assert.equal(view.metrics.last7Days.scope, 'warmup_network');
      assert.equal(view.metrics.last30Days.windowDays, 30);
      assert.equal(view.metrics.last7Days.inboxRate, null, 'nothing to divide is null, not 0%');
      assert.deepEqual(await warmupRows(mailbox.id), [], 'a read creates nothing');
    });

    it('PUT enables with settings, records warmup.started, and GET shows what was stored', async () => {
      const mailbox = await connect(client.organization.id, 'ramp@contoso.example', 'warmup');
      const settings = { dailyCeiling: 25, replyRate: 0.35, weekends: true, timeZone: 'Europe/Paris' };
      const answer = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true, settings });
      assert.equal(answer.status, 200);
      const view = warmupAccountSchema.parse(answer.body);
      assert.equal(view.enabled, true);
      assert.equal(view.state.status, 'active');
      assert.deepEqual(view.settings, { ...settings, receiveOnly: false });

      const [row] = await warmupRows(mailbox.id);
      assert.equal(row?.enabled, 1);
      assert.deepEqual(JSON.parse(row?.settings ?? '{}'), { ...settings, receiveOnly: false });
      const started = await eventsOf('warmup.started', mailbox.id);
      assert.equal(started.length, 1);

      const read = await client.call('GET', `/v1/accounts/${mailbox.id}/warmup`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.settings, view.settings);
      assert.equal(read.body.state.status, 'active');
    });

    it('refuses bad settings at the edge, naming each field, and changes nothing', async () => {
      const mailbox = await connect(client.organization.id, 'strict@contoso.example', 'warmup');
      await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true, settings: { dailyCeiling: 10 } });
      const before = await warmupRows(mailbox.id);
      const answer = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, {
        settings: { dailyCeiling: 41, replyRate: 0.5, weekends: 'yes', timeZone: 'Mars/Olympus_Mons', colour: 'red' },
      });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error.code, 'REQUEST_INVALID');
      const fields = (answer.body.error.details.issues as Array<{ location: string; field: string }>)
        .map((issue) => `${issue.location}:${issue.field}`)
        .sort();
      assert.deepEqual(fields, [
        'body:settings.colour',
        'body:settings.dailyCeiling',
        'body:settings.replyRate',
        'body:settings.timeZone',
        'body:settings.weekends',
      ]);
      const limits = [
        [{ dailyCeiling: 0 }, 'settings.dailyCeiling'],
        [{ dailyCeiling: 2.5 }, 'settings.dailyCeiling'],
        [{ replyRate: 0.19 }, 'settings.replyRate'],
        [{ receiveOnly: 1 }, 'settings.receiveOnly'],
      ] as const;
      for (const [settings, field] of limits) {
        const refused = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { settings });
        assert.equal(refused.status, 400, JSON.stringify(settings));
        assert.equal(refused.body.error.details.issues[0].field, field);
      }
      for (const body of [{}, { enabled: 'true' }, { enabled: true, extra: 1 }]) {
        const refused = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, body);
        assert.equal(refused.status, 400, JSON.stringify(body));
        assert.equal(refused.body.error.code, 'REQUEST_INVALID');
      }
      const noBody = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`);
      assert.equal(noBody.status, 400);
      assert.match(noBody.body.error.message, /a JSON body is required/);
      const form = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, 'enabled=true', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      assert.equal(form.status, 415);
      const badId = await client.call('PUT', '/v1/accounts/nope/warmup', { enabled: true });
      assert.equal(badId.status, 400);
      assert.equal(badId.body.error.details.issues[0].location, 'path');
      assert.deepEqual(await warmupRows(mailbox.id), before, 'nothing changed');
    });

    it('the edges of the ranges are accepted: ceiling 40, reply rate 0.2 and 0.45, a Windows time zone name', async () => {
      const mailbox = await connect(client.organization.id, 'edges@contoso.example', 'warmup');
      const high = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, {
        enabled: true,
        settings: { dailyCeiling: 40, replyRate: 0.45, receiveOnly: true, timeZone: 'Pacific Standard Time' },
      });
      assert.equal(high.status, 200);
      assert.equal(high.body.settings.dailyCeiling, 40);
      const low = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { settings: { replyRate: 0.2 } });
      assert.equal(low.status, 200);
      assert.deepEqual(low.body.settings, { replyRate: 0.2, weekends: false, receiveOnly: false }, 'replaced whole');
    });

    it('pause and resume: warmup.paused (reason user) then warmup.resumed; settings alone on a never-enabled account is 409', async () => {
      const mailbox = await connect(client.organization.id, 'pause@contoso.example', 'warmup');
      const early = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { settings: { dailyCeiling: 5 } });
      assert.equal(early.status, 409);
      assert.equal(early.body.error.code, 'WARMUP_NOT_ENABLED');
      const earlyPause = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: false });
      assert.equal(earlyPause.body.error.code, 'WARMUP_NOT_ENABLED');

      assert.equal((await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true })).status, 200);
      const paused = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, {
        enabled: false,
        settings: { dailyCeiling: 12 },
      });
      assert.equal(paused.status, 200);
      assert.equal(paused.body.enabled, false);
      assert.equal(paused.body.state.status, 'paused');
      assert.equal(paused.body.state.reason, 'user');
      assert.match(paused.body.state.remediation, /Resume warm-up when you are ready/);
      assert.equal(paused.body.settings.dailyCeiling, 12, 'settings and pause in one request');
      const pausedEvents = await eventsOf('warmup.paused', mailbox.id);
      assert.equal(pausedEvents.length, 1);
      assert.equal(pausedEvents[0]?.data['reason'], 'user');

      const resumed = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true });
      assert.equal(resumed.status, 200);
      assert.equal(resumed.body.enabled, true);
      assert.equal(resumed.body.state.status, 'active');
      assert.equal(resumed.body.settings.dailyCeiling, 12, 'enabling without settings keeps them');
      assert.equal((await eventsOf('warmup.resumed', mailbox.id)).length, 1);
    });

    it('a disconnected account cannot be enabled: 409 WARMUP_ACCOUNT_DISCONNECTED', async () => {
      const mailbox = await connect(client.organization.id, 'gone@contoso.example', 'warmup');
      assert.equal((await client.call('DELETE', `/v1/accounts/${mailbox.id}`)).status, 200);
      const answer = await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true });
      assert.equal(answer.status, 409);
      assert.equal(answer.body.error.code, 'WARMUP_ACCOUNT_DISCONNECTED');
      assert.equal((await client.call('GET', `/v1/accounts/${mailbox.id}/warmup`)).body.state.status, 'off');
    });

    it('the pool lists the organisation’s members with states and totals; other organisations see none of it', async () => {
      const outlook = await connect(client.organization.id, 'pool@outlook.example', 'warmup', {
        tenantId: CONSUMER_TENANT_ID,
        objectId: randomUUID(),
      });
      await client.call('PUT', `/v1/accounts/${outlook.id}/warmup`, { enabled: true });
      const answer = await client.call('GET', '/v1/warmup');
      assert.equal(answer.status, 200);
      const pool = warmupPoolSchema.parse(answer.body);
      assert.equal(pool.scope, 'warmup_network');
      const member = pool.members.find((m) => m.accountId === outlook.id);
      assert.equal(member?.state, 'active');
      assert.equal(member?.email, 'pool@outlook.example');
      const fromDb = await service.deps.db
        .selectFrom('warmup_accounts')
        .select(['account_id', 'enabled', 'state'])
        .where('organization_id', '=', client.organization.id)
        .execute();
      assert.deepEqual(pool.members.map((m) => m.accountId).sort(), fromDb.map((r) => r.account_id).sort());
      assert.equal(pool.totals.members, fromDb.length);
      assert.equal(pool.totals.enabled, fromDb.filter((r) => r.enabled === 1).length);
      assert.equal(
        Object.values(pool.totals.byState).reduce((a, b) => a + (b ?? 0), 0),
        fromDb.length,
      );
      assert.equal((await client.call('GET', `/v1/accounts/${outlook.id}/warmup`)).body.provider, 'outlook_com');

      // Another organisation: an empty pool, and the account does not exist for it.
      const theirs = await other.call('GET', '/v1/warmup');
      assert.equal(theirs.status, 200);
      assert.deepEqual(theirs.body.members, []);
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', { enabled: false }],
      ] as const) {
        const answer = await other.call(method, `/v1/accounts/${outlook.id}/warmup`, body);
        assert.equal(answer.status, 404, method);
        assert.equal(answer.body.error.code, 'ACCOUNT_NOT_FOUND');
      }
      assert.equal((await warmupRows(outlook.id))[0]?.enabled, 1, 'their pause did nothing');
    });

    it('needs an API key, and never answers with a token', async () => {
      const mailbox = await connect(client.organization.id, 'secret@contoso.example', 'warmup');
      const anonymous = await fetch(`${service.url}/v1/accounts/${mailbox.id}/warmup`);
      assert.equal(anonymous.status, 401);
      const answers = [
        await client.call('PUT', `/v1/accounts/${mailbox.id}/warmup`, { enabled: true }),
        await client.call('GET', `/v1/accounts/${mailbox.id}/warmup`),
        await client.call('GET', '/v1/warmup'),
      ];
      const text = answers.map((a) => JSON.stringify(a.body)).join('\n');
      for (const token of tokens) assert.ok(!text.includes(token), 'a token in an answer');
    });
  });
}
