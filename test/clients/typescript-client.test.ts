import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createMailbridgeClient, MailbridgeApiError, verifyWebhook } from '../../clients/typescript/src/index.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The TypeScript client (clients/typescript/) against a running mailbridge: its fetch wrapper on real routes and
 * error answers, and its `verifyWebhook` in a host app's receiver, through a secret rotation's overlap.
 */
describe('clients/typescript against a running mailbridge', () => {
  const clock = new ManualClock(Date.parse('2030-06-01T12:00:00Z'));
  const nowSeconds = () => Math.floor(clock.now() / 1000);
  let service: TestService;
  let receiver: Server;
  let receiverUrl: string;
  /** What the host app currently accepts. */
  let accepting: string[] = [];
  const received: Array<{ body: string; signature: string; ok: boolean }> = [];
  let admin: ReturnType<typeof createMailbridgeClient>;
  let standard: ReturnType<typeof createMailbridgeClient>;

  before(async () => {
    // A host app's receiver, written as the client's README says: raw body, every accepted secret.
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const result = verifyWebhook(accepting, request.headers, body, { nowSeconds: nowSeconds() });
        received.push({ body, signature: String(request.headers['mailbridge-signature']), ok: result.ok });
        response.writeHead(result.ok ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    service = await startTestService({ clock });
    const organization = await createOrganization(service.deps.db, clock, { name: 'Acme', allowedReturnUrls: [] });
    const adminKey = await createApiKey(service.deps.db, clock, organization.id, 'admin', { scope: 'admin' });
    const standardKey = await createApiKey(service.deps.db, clock, organization.id, 'standard');
    admin = createMailbridgeClient({ baseUrl: service.url, apiKey: adminKey.key });
    standard = createMailbridgeClient({ baseUrl: `${service.url}/`, apiKey: standardKey.key });
  });
  after(async () => {
    await service?.close();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  });

  /** A real event: an owner (made by a connect session) deleted through the API. */
  async function ownerDeleted(ownerId: string): Promise<void> {
    await standard.request('POST', '/v1/connect-sessions', { body: { ownerId } });
    clock.advance(1);
    assert.equal(await standard.request('DELETE', '/v1/owners/{ownerId}', { path: { ownerId } }), undefined);
    await deliverDueWebhooks(service.deps, { limit: 10 });
  }

  it('answers JSON and throws error answers as MailbridgeApiError with their code', async () => {
    const organization = await standard.request('GET', '/v1/organization');
    assert.equal(organization.name, 'Acme');
    const page = await standard.request('GET', '/v1/accounts', { query: { limit: 5, ownerId: undefined } });
    assert.deepEqual(page, { data: [], nextCursor: null });
    await assert.rejects(standard.request('GET', '/v1/webhook-endpoints'), (error: unknown) => {
      assert.ok(error instanceof MailbridgeApiError);
      assert.equal(error.status, 403);
      assert.equal(error.code, 'API_KEY_SCOPE_INSUFFICIENT');
      return true;
    });
    await assert.rejects(
      admin.request('POST', '/v1/webhook-endpoints', { body: { url: receiverUrl, secret: 'short' } }),
      (error: unknown) => error instanceof MailbridgeApiError && error.code === 'WEBHOOK_SECRET_TOO_SHORT',
    );
  });

  it('verifyWebhook accepts deliveries through a rotation overlap, and refuses tampering and replays', async () => {
    const endpoint = await admin.request('POST', '/v1/webhook-endpoints', { body: { url: receiverUrl } });
    accepting = [endpoint.secret];
    await ownerDeleted('owner-1');
    assert.equal(received.at(-1)?.ok, true);
    assert.equal(JSON.parse(received.at(-1)?.body ?? '{}').type, 'owner.deleted');

    const rotated = await admin.request('POST', '/v1/webhook-endpoints/{id}/rotate-secret', {
      path: { id: endpoint.id },
      body: { overlapSeconds: 600 },
    });
    // The receiver has not deployed the new secret yet: the previous one still verifies during the overlap.
    await ownerDeleted('owner-2');
    const during = received.at(-1);
    assert.equal(during?.ok, true);
    const headers = { 'Mailbridge-Signature': during?.signature ?? '' };
    assert.equal(verifyWebhook([rotated.secret], headers, during?.body ?? '', { nowSeconds: nowSeconds() }).ok, true);
    // Tampered body, or the same delivery replayed an hour later: refused.
    const tampered = verifyWebhook(accepting, headers, `${during?.body} `, { nowSeconds: nowSeconds() });
    assert.deepEqual(tampered.ok ? 'ok' : tampered.code, 'SIGNATURE_MISMATCH');
    const replayed = verifyWebhook(accepting, headers, during?.body ?? '', { nowSeconds: nowSeconds() + 3600 });
    assert.deepEqual(replayed.ok ? 'ok' : replayed.code, 'TIMESTAMP_OUT_OF_TOLERANCE');

    // After the overlap only the new secret signs.
    clock.advance(601_000);
    await ownerDeleted('owner-3');
    assert.equal(received.at(-1)?.ok, false, 'the old secret alone no longer verifies');
    accepting = [rotated.secret, endpoint.secret];
    clock.advance(60 * 60_000);
    await deliverDueWebhooks(service.deps, { limit: 10 });
    assert.equal(received.at(-1)?.ok, true, 'the retry verifies with the new secret');
  });
});
