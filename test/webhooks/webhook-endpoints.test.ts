import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { withTransaction } from '../../src/db/transaction.js';
import type { EventType } from '../../src/events/event-recorder.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { type ApiClient, callApi, createApiClient } from '../api/api-test-support.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const HOUR_MS = 3_600_000;

// Webhook endpoints per organisation (issue 13) over HTTP, delivered to real receivers that verify every signature.
for (const dialect of TEST_DIALECTS) {
  describe(`webhook endpoints per organisation [${dialect}]`, () => {
    const clock = new ManualClock(Date.parse('2030-03-01T09:00:00Z'));
    const nowSeconds = () => Math.floor(clock.now() / 1000);
    const envSecret = randomBytes(32).toString('hex');
    /** What each receiver verifies with; set once the API answers the endpoint's secret. */
    const secretsOf: Record<string, string[]> = { crm: [], audit: [], globex: [] };
    let service: TestService;
    let defaultReceiver: WebhookReceiver;
    let crm: WebhookReceiver;
    let audit: WebhookReceiver;
    let globexReceiver: WebhookReceiver;
    let acme: ApiClient;
    let acmeAdmin: string;
    let globexAdmin: string;
    let defaultOrgId: string;
    let globexOrgId: string;
    const api = (key: string, method: string, path: string, body?: unknown) =>
      callApi(service, method, path, { authorization: `Bearer ${key}` }, body);
    const record = (organizationId: string, type: EventType) =>
      withTransaction(service.deps.db, (trx) =>
        service.deps.events.record(trx, { organizationId, type, ownerExternalId: 'user-7', data: { n: 1 } }),
      );
    const deliverAll = async () => {
      // Until nothing is due (bounded, so a bug shows as a failed assertion, not a hung test).
      for (let round = 0; round < 10; round++) {
        if ((await deliverDueWebhooks(service.deps, { limit: 50 })) === 0) return;
      }
    };

    before(async () => {
      defaultReceiver = await startWebhookReceiver({ secret: envSecret, nowSeconds });
      crm = await startWebhookReceiver({ secret: () => secretsOf['crm'] ?? [], nowSeconds });
      audit = await startWebhookReceiver({ secret: () => secretsOf['audit'] ?? [], nowSeconds });
      globexReceiver = await startWebhookReceiver({ secret: () => secretsOf['globex'] ?? [], nowSeconds });
      service = await startTestService({
        dialect,
        clock,
        env: { WEBHOOK_URL: defaultReceiver.url, WEBHOOK_SECRET: envSecret },
      });
      acme = await createApiClient(service, 'Acme');
      acmeAdmin = (await createApiKey(service.deps.db, clock, acme.organization.id, 'ops', { scope: 'admin' })).key;
      const globex = await createOrganization(service.deps.db, clock, { name: 'Globex', allowedReturnUrls: [] });
      globexOrgId = globex.id;
      globexAdmin = (await createApiKey(service.deps.db, clock, globex.id, 'ops', { scope: 'admin' })).key;
      defaultOrgId = (await ensureDefaultOrganization(service.deps.db, clock)).id;
    });
    after(async () => {
      await service?.close();
      for (const receiver of [defaultReceiver, crm, audit, globexReceiver]) await receiver?.close();
    });

    it('needs an admin key, and refuses bad URLs and short secrets with one clear message', async () => {
      const standard = await acme.call('GET', '/v1/webhook-endpoints');
      assert.equal(standard.status, 403);
      assert.equal(standard.body.error.code, 'API_KEY_SCOPE_INSUFFICIENT');

      for (const url of [
        'http://hooks.example.com/x',
        'https://user:pw@hooks.example.com/',
        'https://a.example/?t=1',
      ]) {
        const answer = await api(acmeAdmin, 'POST', '/v1/webhook-endpoints', { url });
        assert.equal(answer.status, 400, url);
        assert.equal(answer.body.error.code, 'WEBHOOK_ENDPOINT_URL_INVALID', url);
      }
      const short = await api(acmeAdmin, 'POST', '/v1/webhook-endpoints', { url: crm.url, secret: 'too-short' });
      assert.equal(short.status, 400);
      assert.equal(short.body.error.code, 'WEBHOOK_SECRET_TOO_SHORT');
      assert.equal(
        short.body.error.message,
        'secret is shorter than 32 characters; make one with `openssl rand -hex 32`.',
      );
      const unknownType = await api(acmeAdmin, 'POST', '/v1/webhook-endpoints', {
        url: crm.url,
        eventTypes: ['account.exploded'],
      });
      assert.equal(unknownType.status, 400);
      assert.equal(unknownType.body.error.code, 'REQUEST_INVALID');
      assert.equal((await service.deps.db.selectFrom('webhook_endpoints').selectAll().execute()).length, 0);
    });

    it('fans events out per endpoint, filtered by type, each signed with its own secret and naming its organisation', async () => {
      const created = await api(acmeAdmin, 'POST', '/v1/webhook-endpoints', {
        url: crm.url,
        eventTypes: ['account.connected'],
      });
      assert.equal(created.status, 201);
      assert.match(created.body.secret, /^[0-9a-f]{64}$/);
      assert.deepEqual(created.body.eventTypes, ['account.connected']);
      assert.equal(created.body.enabled, true);
      secretsOf['crm'] = [created.body.secret];
      // Ids sort by creation time; a frozen clock would leave same-millisecond ids in random order.
      clock.advance(1);
      const auditSecret = randomBytes(24).toString('base64url');
      const auditAnswer = await api(acmeAdmin, 'POST', '/v1/webhook-endpoints', {
        url: audit.url,
        secret: auditSecret,
      });
      assert.equal(auditAnswer.status, 201);
      assert.equal(auditAnswer.body.secret, auditSecret);
      secretsOf['audit'] = [auditSecret];
      const globexAnswer = await api(globexAdmin, 'POST', '/v1/webhook-endpoints', { url: globexReceiver.url });
      secretsOf['globex'] = [globexAnswer.body.secret];

      // The secret is stored sealed, never in plaintext; lists never show it.
      const rows = await service.deps.db.selectFrom('webhook_endpoints').selectAll().execute();
      assert.equal(rows.length, 3);
      for (const row of rows) {
        assert.match(row.secret_sealed, /^v1\./);
        assert.ok(!JSON.stringify(row).includes(created.body.secret));
        assert.ok(!JSON.stringify(row).includes(auditSecret));
      }
      const listed = await api(acmeAdmin, 'GET', '/v1/webhook-endpoints');
      assert.deepEqual(
        listed.body.data.map((e: { id: string }) => e.id),
        [created.body.id, auditAnswer.body.id],
      );
      assert.ok(!JSON.stringify(listed.body).includes(created.body.secret));

      clock.advance(1);
      const connected = await record(acme.organization.id, 'account.connected');
      clock.advance(1);
      const deleted = await record(acme.organization.id, 'owner.deleted');
      clock.advance(1);
      const theirs = await record(globexOrgId, 'owner.deleted');
      clock.advance(1);
      const ours = await record(defaultOrgId, 'app.secret_expiring');
      await deliverAll();

      assert.deepEqual(crm.acceptedEventIds(), [connected.id]);
      // Deliveries run in parallel: arrival order is not creation order.
      assert.deepEqual(audit.acceptedEventIds().sort(), [connected.id, deleted.id].sort());
      assert.deepEqual(globexReceiver.acceptedEventIds(), [theirs.id]);
      // WEBHOOK_URL is the Default organisation's endpoint: it gets only that organisation's events.
      assert.deepEqual(defaultReceiver.acceptedEventIds(), [ours.id]);
      for (const receiver of [crm, audit, globexReceiver, defaultReceiver]) assert.deepEqual(receiver.rejected, []);
      assert.equal(audit.accepted[0]?.event?.organizationId, acme.organization.id);
      assert.equal(defaultReceiver.accepted[0]?.event?.organizationId, defaultOrgId);

      // The delivery log, per endpoint.
      const log = await api(acmeAdmin, 'GET', `/v1/webhook-deliveries?endpointId=${auditAnswer.body.id}`);
      assert.deepEqual(
        log.body.data.map((d: { eventId: string; endpointId: string; status: string }) => [d.eventId, d.status]),
        [
          [connected.id, 'delivered'],
          [deleted.id, 'delivered'],
        ],
      );
      assert.ok(log.body.data.every((d: { endpointId: string }) => d.endpointId === auditAnswer.body.id));
      const forEvent = await acme.call('GET', `/v1/webhook-deliveries?eventId=${connected.id}`);
      assert.equal(forEvent.body.data.length, 2);
    });

    it('a failed endpoint retries on its own while the others are delivered', async () => {
      crm.failNext(1);
      clock.advance(1);
      const event = await record(acme.organization.id, 'account.connected');
      await deliverAll();
      const deliveries = await acme.call('GET', `/v1/webhook-deliveries?eventId=${event.id}`);
      const byUrl = Object.fromEntries(
        deliveries.body.data.map((d: { url: string; status: string; lastError: string | null }) => [d.url, d]),
      );
      assert.equal(byUrl[crm.url].status, 'pending');
      assert.equal(byUrl[crm.url].lastError, 'HTTP 500');
      assert.equal(byUrl[audit.url].status, 'delivered');
      clock.advance(HOUR_MS);
      await deliverAll();
      assert.ok(crm.acceptedEventIds().includes(event.id));
      assert.equal(audit.accepted.filter((d) => d.event?.id === event.id).length, 1);
    });

    it('disabled endpoints get nothing; PATCH changes the filter', async () => {
      const [crmEndpoint] = (await api(acmeAdmin, 'GET', '/v1/webhook-endpoints')).body.data;
      const disabled = await api(acmeAdmin, 'PATCH', `/v1/webhook-endpoints/${crmEndpoint.id}`, { enabled: false });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.enabled, false);
      clock.advance(1);
      const event = await record(acme.organization.id, 'account.connected');
      await deliverAll();
      assert.ok(!crm.acceptedEventIds().includes(event.id));
      assert.ok(audit.acceptedEventIds().includes(event.id));

      const all = await api(acmeAdmin, 'PATCH', `/v1/webhook-endpoints/${crmEndpoint.id}`, {
        enabled: true,
        eventTypes: null,
      });
      assert.equal(all.body.eventTypes, null);
      clock.advance(1);
      const other = await record(acme.organization.id, 'message.sent');
      await deliverAll();
      assert.ok(crm.acceptedEventIds().includes(other.id));

      const foreign = await api(globexAdmin, 'PATCH', `/v1/webhook-endpoints/${crmEndpoint.id}`, { enabled: false });
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.error.code, 'WEBHOOK_ENDPOINT_NOT_FOUND');
    });

    it('rotation: both signatures during the overlap, only the new one after', async () => {
      const [crmEndpoint] = (await api(acmeAdmin, 'GET', '/v1/webhook-endpoints')).body.data;
      const oldSecret = secretsOf['crm']?.[0] ?? '';
      const rotated = await api(acmeAdmin, 'POST', `/v1/webhook-endpoints/${crmEndpoint.id}/rotate-secret`, {
        overlapSeconds: 3600,
      });
      assert.equal(rotated.status, 200);
      assert.match(rotated.body.secret, /^[0-9a-f]{64}$/);
      assert.notEqual(rotated.body.secret, oldSecret);
      assert.equal(rotated.body.previousSecretExpiresAt, new Date(clock.now() + HOUR_MS).toISOString());

      // A receiver still on the old secret keeps verifying during the overlap.
      secretsOf['crm'] = [oldSecret];
      clock.advance(1);
      const during = await record(acme.organization.id, 'account.connected');
      await deliverAll();
      assert.ok(crm.acceptedEventIds().includes(during.id));
      const header = crm.accepted.at(-1)?.headers['mailbridge-signature'] ?? '';
      assert.equal(header.split(',').filter((part) => part.startsWith('v1=')).length, 2);

      // After it, only the new secret signs: the old one is refused, the new one verifies.
      clock.advance(HOUR_MS);
      const afterwards = await record(acme.organization.id, 'account.connected');
      await deliverAll();
      assert.equal(crm.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_MISMATCH');
      secretsOf['crm'] = [rotated.body.secret];
      clock.advance(HOUR_MS);
      await deliverAll();
      assert.ok(crm.acceptedEventIds().includes(afterwards.id));
      const after = crm.accepted.at(-1)?.headers['mailbridge-signature'] ?? '';
      assert.equal(after.split(',').filter((part) => part.startsWith('v1=')).length, 1);
      assert.equal(
        (await api(acmeAdmin, 'GET', `/v1/webhook-endpoints/${crmEndpoint.id}`)).body.previousSecretExpiresAt,
        null,
      );

      const short = await api(acmeAdmin, 'POST', `/v1/webhook-endpoints/${crmEndpoint.id}/rotate-secret`, {
        secret: 'x'.repeat(31),
      });
      assert.equal(short.status, 400);
      assert.equal(short.body.error.code, 'WEBHOOK_SECRET_TOO_SHORT');
    });

    it('delete destroys the secret; a pending delivery to it fails', async () => {
      const [crmEndpoint] = (await api(acmeAdmin, 'GET', '/v1/webhook-endpoints')).body.data;
      crm.failNext(1);
      clock.advance(1);
      const event = await record(acme.organization.id, 'account.connected');
      await deliverAll();
      assert.equal((await api(globexAdmin, 'DELETE', `/v1/webhook-endpoints/${crmEndpoint.id}`)).status, 404);
      const gone = await api(acmeAdmin, 'DELETE', `/v1/webhook-endpoints/${crmEndpoint.id}`);
      assert.equal(gone.status, 204);
      assert.equal((await api(acmeAdmin, 'GET', `/v1/webhook-endpoints/${crmEndpoint.id}`)).status, 404);
      const dataKey = await service.deps.db
        .selectFrom('vault_data_keys')
        .select('subject_id')
        .where('subject_id', '=', crmEndpoint.id)
        .executeTakeFirst();
      assert.equal(dataKey, undefined);
      clock.advance(HOUR_MS);
      await deliverAll();
      const log = await acme.call('GET', `/v1/webhook-deliveries?endpointId=${crmEndpoint.id}&eventId=${event.id}`);
      assert.equal(log.body.data[0].status, 'failed');
      assert.equal(log.body.data[0].lastError, 'the webhook endpoint was deleted');
    });

    it('at most 10 endpoints per organisation; each lists only its own', async () => {
      const before = (await api(globexAdmin, 'GET', '/v1/webhook-endpoints')).body.data.length;
      for (let n = before; n < 10; n++) {
        clock.advance(1);
        const answer = await api(globexAdmin, 'POST', '/v1/webhook-endpoints', { url: `${globexReceiver.url}/${n}` });
        assert.equal(answer.status, 201);
      }
      const refused = await api(globexAdmin, 'POST', '/v1/webhook-endpoints', { url: globexReceiver.url });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'WEBHOOK_ENDPOINTS_TOO_MANY');
      const theirs = (await api(globexAdmin, 'GET', '/v1/webhook-endpoints')).body.data;
      const ours = (await api(acmeAdmin, 'GET', '/v1/webhook-endpoints')).body.data;
      assert.equal(theirs.length, 10);
      assert.ok(ours.every((endpoint: { id: string }) => !theirs.some((t: { id: string }) => t.id === endpoint.id)));
    });
  });
}
