import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { withTransaction } from '../../src/db/transaction.js';
import type { EventView } from '../../src/events/event-recorder.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import { deliverDueWebhooks, WEBHOOK_MAX_ATTEMPTS } from '../../src/webhooks/webhook-dispatcher.js';
import { createWebhookEndpoint } from '../../src/webhooks/webhook-endpoints.js';
import { type ApiClient, callApi, createApiClient } from '../api/api-test-support.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

// The delivery log through the host API: GET /v1/webhook-deliveries and POST /v1/webhook-deliveries/{id}/retry.
describe('webhook delivery API', () => {
  const secret = randomBytes(32).toString('hex');
  const clock = new ManualClock(Date.UTC(2026, 1, 2, 8, 0, 0));
  let receiver: WebhookReceiver;
  let service: TestService;
  let acme: ApiClient;
  let globex: ApiClient;

  before(async () => {
    receiver = await startWebhookReceiver({ secret, nowSeconds: () => Math.floor(clock.now() / 1000) });
    service = await startTestService({ clock, env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret } });
    // WEBHOOK_URL is the Default organisation's endpoint; Globex has an endpoint of its own on the same receiver.
    acme = await defaultOrganizationClient(service);
    globex = await createApiClient(service, 'Globex');
    await createWebhookEndpoint(service.deps, globex.organization.id, { url: receiver.url, secret });
  });
  after(async () => {
    await service?.close();
    await receiver?.close();
  });

  const record = (organizationId: string, type: 'account.connected' | 'owner.deleted' = 'account.connected') =>
    withTransaction(service.deps.db, (trx) =>
      service.deps.events.record(trx, { organizationId, type, ownerExternalId: 'user-1', data: { n: 1 } }),
    );

  test('needs an API key', async () => {
    const answer = await callApi(service, 'GET', '/v1/webhook-deliveries');
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'API_KEY_MISSING');
    const retry = await callApi(service, 'POST', `/v1/webhook-deliveries/whd_${'0'.repeat(26)}/retry`);
    assert.equal(retry.status, 401);
  });

  test('lists the organisation’s deliveries only, filtered and paged', async () => {
    const events: EventView[] = [];
    for (let i = 0; i < 3; i++) {
      // Ids sort by creation time; a frozen clock would leave same-millisecond ids in random order.
      clock.advance(1);
      events.push(await record(acme.organization.id));
    }
    const foreign = await record(globex.organization.id);
    receiver.failNext(1);
    await deliverDueWebhooks(service.deps, { limit: 10 });

    const all = await acme.call('GET', '/v1/webhook-deliveries?limit=200');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.data.map((d: { eventId: string }) => d.eventId),
      events.map((e) => e.id),
    );
    assert.equal(all.body.nextCursor, null);
    const [first] = all.body.data;
    assert.equal(first.eventType, 'account.connected');
    assert.equal(first.url, receiver.url);
    assert.equal(first.attempts, 1);
    assert.match(first.createdAt, /^\d{4}-\d\d-\d\dT/);
    const failedOnce = all.body.data.filter((d: { status: string }) => d.status === 'pending');
    assert.equal(
      failedOnce.length + all.body.data.filter((d: { status: string }) => d.status === 'delivered').length,
      3,
    );

    const page = await acme.call('GET', '/v1/webhook-deliveries?limit=2');
    assert.equal(page.body.data.length, 2);
    assert.equal(page.body.nextCursor, page.body.data[1].id);
    const rest = await acme.call('GET', `/v1/webhook-deliveries?limit=2&after=${page.body.nextCursor}`);
    assert.equal(rest.body.data.length, 1);
    assert.equal(rest.body.nextCursor, null);

    const one = await acme.call('GET', `/v1/webhook-deliveries?eventId=${events[1]?.id}`);
    assert.deepEqual(
      one.body.data.map((d: { eventId: string }) => d.eventId),
      [events[1]?.id],
    );
    const delivered = await acme.call('GET', '/v1/webhook-deliveries?status=delivered');
    assert.ok(delivered.body.data.every((d: { status: string }) => d.status === 'delivered'));
    assert.equal(delivered.body.data.length, 3 - failedOnce.length);

    // Another organisation's delivery is invisible, even asked for by its event id.
    const peek = await acme.call('GET', `/v1/webhook-deliveries?eventId=${foreign.id}`);
    assert.deepEqual(peek.body.data, []);
    const theirs = await globex.call('GET', '/v1/webhook-deliveries');
    assert.deepEqual(
      theirs.body.data.map((d: { eventId: string }) => d.eventId),
      [foreign.id],
    );
    // The one injected failure left exactly one delivery pending, in whichever organisation it hit.
    const theirsPending = theirs.body.data.filter((d: { status: string }) => d.status === 'pending').length;
    assert.equal(failedOnce.length + theirsPending, 1);
  });

  test('rejects bad filters with REQUEST_INVALID naming the field', async () => {
    for (const query of ['status=lost', 'eventId=acc_123', 'limit=0', 'limit=201', 'after=nope', 'colour=red']) {
      const answer = await acme.call('GET', `/v1/webhook-deliveries?${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'REQUEST_INVALID', query);
      assert.equal(answer.body.error.details.issues[0].location, 'query', query);
    }
  });

  test('retry: a failed delivery is sent again; pending, unknown and foreign ones are refused', async () => {
    clock.advance(60 * 60_000);
    await deliverDueWebhooks(service.deps, { limit: 50 });
    const event = await record(acme.organization.id, 'owner.deleted');
    receiver.failNext(1000);
    for (let i = 0; i < WEBHOOK_MAX_ATTEMPTS; i++) {
      await deliverDueWebhooks(service.deps, { limit: 50 });
      clock.advance(7 * 60 * 60_000);
    }
    receiver.failNext(0);
    const listed = await acme.call('GET', `/v1/webhook-deliveries?eventId=${event.id}`);
    const failed = listed.body.data[0];
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, WEBHOOK_MAX_ATTEMPTS);
    assert.equal(failed.lastError, 'HTTP 500');
    assert.equal(failed.lastStatusCode, 500);

    const foreign = await globex.call('POST', `/v1/webhook-deliveries/${failed.id}/retry`);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'WEBHOOK_DELIVERY_NOT_FOUND');
    const unknown = await acme.call('POST', `/v1/webhook-deliveries/whd_${'0'.repeat(26)}/retry`);
    assert.equal(unknown.status, 404);
    const malformed = await acme.call('POST', '/v1/webhook-deliveries/evt_1/retry');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.code, 'REQUEST_INVALID');

    const retried = await acme.call('POST', `/v1/webhook-deliveries/${failed.id}/retry`);
    assert.equal(retried.status, 202);
    assert.equal(retried.body.status, 'pending');
    assert.equal(retried.body.attempts, 0);
    assert.equal(retried.body.nextAttemptAt, new Date(clock.now()).toISOString());
    const again = await acme.call('POST', `/v1/webhook-deliveries/${failed.id}/retry`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'WEBHOOK_DELIVERY_ALREADY_PENDING');

    assert.equal(await deliverDueWebhooks(service.deps, { limit: 50 }), 1);
    const done = await acme.call('GET', `/v1/webhook-deliveries?eventId=${event.id}`);
    assert.equal(done.body.data[0].status, 'delivered');
    assert.equal(done.body.data[0].lastError, null);
    assert.ok(receiver.accepted.some((d) => d.event?.id === event.id));
  });

  test('the OpenAPI document describes both operations', async () => {
    const answer = await callApi(service, 'GET', '/v1/openapi.json');
    assert.equal(answer.status, 200);
    assert.ok(answer.body.paths['/v1/webhook-deliveries']?.get);
    assert.ok(answer.body.paths['/v1/webhook-deliveries/{id}/retry']?.post);
    assert.ok(answer.body.components.schemas.WebhookDelivery);
  });
});

/** An API client of the Default organisation (the one WEBHOOK_URL serves). */
async function defaultOrganizationClient(service: TestService): Promise<ApiClient> {
  const organization = await ensureDefaultOrganization(service.deps.db, service.deps.clock);
  const created = await createApiKey(service.deps.db, service.deps.clock, organization.id, 'default test key');
  return {
    organization,
    key: created.key,
    apiKeyId: created.id,
    call: (method, path, body, headers) =>
      callApi(service, method, path, { authorization: `Bearer ${created.key}`, ...headers }, body),
  };
}
