import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery } from 'kysely';
import { eventListSchema } from '../../src/api/event-schemas.js';
import { dueExpiredSessionsQuery } from '../../src/connect/connect-expiry.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { startBackgroundWork } from '../../src/worker/background-work.js';
import { callApi } from '../api/api-test-support.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const MINUTE_MS = 60_000;

// Issue 13: a connect session the user never came back to ends with a signed `connect.failed` (status `expired`),
// recorded by the background work, once.
for (const dialect of TEST_DIALECTS) {
  describe(`connect sessions that expire unfinished [${dialect}]`, () => {
    const clock = new ManualClock(Date.parse('2030-05-01T10:00:00Z'));
    const secret = randomBytes(32).toString('hex');
    let service: TestService;
    let receiver: WebhookReceiver;
    let key: string;
    const api = (method: string, path: string, body?: unknown) =>
      callApi(service, method, path, { authorization: `Bearer ${key}` }, body);
    const createSession = async (ownerId: string): Promise<string> => {
      const answer = await api('POST', '/v1/connect-sessions', { ownerId });
      assert.equal(answer.status, 201);
      return answer.body.id;
    };

    before(async () => {
      receiver = await startWebhookReceiver({ secret, nowSeconds: () => Math.floor(clock.now() / 1000) });
      service = await startTestService({ dialect, clock, env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret } });
      const organization = await ensureDefaultOrganization(service.deps.db, clock);
      key = (await createApiKey(service.deps.db, clock, organization.id, 'expiry')).key;
    });
    after(async () => {
      await service?.close();
      await receiver?.close();
    });

    it('records connect.failed (expired) once for a session left unfinished, and only for it', async () => {
      const left = await createSession('left-it');
      clock.advance(1);
      const failed = await createSession('came-back');
      // The user came back and failed (their connect.failed was recorded then): no second event at expiry.
      await service.deps.db
        .updateTable('connect_sessions')
        .set({ status: 'failed' })
        .where('id', '=', failed)
        .execute();
      clock.advance(20 * MINUTE_MS);
      const young = await createSession('still-has-time');
      clock.advance(11 * MINUTE_MS);

      const work = startBackgroundWork(service.deps, { autoStart: false });
      try {
        await work.runOnce();
        await work.runOnce();
      } finally {
        await work.stop();
      }

      const events = await api('GET', '/v1/events?type=connect.failed');
      // The event is what the OpenAPI document says it is.
      eventListSchema.parse(events.body);
      assert.deepEqual(
        events.body.data.map((event: { ownerId: string; data: unknown }) => [event.ownerId, event.data]),
        [['left-it', { connectSessionId: left, ownerId: 'left-it', status: 'expired', reason: null }]],
      );
      const view = await api('GET', `/v1/connect-sessions/${left}`);
      assert.equal(view.body.state, 'expired');
      assert.deepEqual(view.body.outcome, { status: 'expired', reason: null });
      assert.equal((await api('GET', `/v1/connect-sessions/${young}`)).body.state, 'pending');

      // Delivered by webhook like every other end.
      await deliverDueWebhooks(service.deps, { limit: 10 });
      const heard = receiver.accepted.map((d) => [
        d.event?.type,
        (d.event?.data as { status?: string } | undefined)?.status,
      ]);
      assert.deepEqual(heard, [['connect.failed', 'expired']]);
    });

    it('finds due sessions through the partial index', async (t) => {
      if (dialect !== 'sqlite') {
        t.skip('the plan of a tiny PostgreSQL table is a sequential scan whatever the indexes');
        return;
      }
      const compiled = dueExpiredSessionsQuery(service.deps.db, clock.now(), 100).compile();
      const rows = await service.deps.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]),
      );
      assert.match(rows.rows.map((row) => row.detail).join('\n'), /USING INDEX connect_sessions_expiry_due_idx/);
    });
  });
}
