import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { withTransaction } from '../../src/db/transaction.js';
import type { EventView } from '../../src/events/event-recorder.js';
import { DEFAULT_ORGANIZATION_ID, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { ManualClock } from '../../src/platform/clock.js';
import type { ServiceDeps } from '../../src/services.js';
import { signWebhook, verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from '../../src/webhooks/signature.js';
import {
  findWebhookDeliveryOrThrow,
  listWebhookDeliveries,
  retryWebhookDeliveryOrThrow,
} from '../../src/webhooks/webhook-deliveries.js';
import {
  deliverDueWebhooks,
  deliverWebhookBatches,
  retryDelayMs,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_MS,
} from '../../src/webhooks/webhook-dispatcher.js';
import { startBackgroundWork } from '../../src/worker/background-work.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';
import { postRaw, startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

// WEBHOOK_URL is the Default organisation's endpoint (other organisations configure their own: see
// webhook-endpoints.test.ts).
const ORG = DEFAULT_ORGANIZATION_ID;
const OTHER_ORG = 'org_other';

describe('retryDelayMs', () => {
  test('follows the schedule with ±20% jitter, honours Retry-After, and is capped', () => {
    assert.equal(
      retryDelayMs(1, undefined, () => 0.5),
      30_000,
    );
    assert.equal(
      retryDelayMs(1, undefined, () => 0),
      24_000,
    );
    assert.equal(
      retryDelayMs(1, undefined, () => 0.999_999),
      36_000,
    );
    assert.equal(
      retryDelayMs(2, undefined, () => 0.5),
      120_000,
    );
    assert.equal(
      retryDelayMs(4, undefined, () => 0.5),
      3_600_000,
    );
    assert.equal(
      retryDelayMs(50, undefined, () => 0.5),
      6 * 3_600_000,
    );
    // The receiver asked for 5 minutes after the first failure: it gets them.
    assert.equal(
      retryDelayMs(1, 300_000, () => 0.5),
      300_000,
    );
    // …but never more than the longest delay of the schedule.
    assert.equal(
      retryDelayMs(1, 10 * 24 * 3_600_000, () => 0.5),
      6 * 3_600_000,
    );
    const total = WEBHOOK_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0);
    assert.ok(total > 24 * 3_600_000 && total < 26 * 3_600_000, 'retries span about a day');
  });
});

for (const dialect of TEST_DIALECTS) {
  describe(`webhook delivery [${dialect}]`, () => {
    const secret = randomBytes(32).toString('hex');
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
    let receiver: WebhookReceiver;
    let service: TestService;

    before(async () => {
      receiver = await startWebhookReceiver({ secret, nowSeconds: () => Math.floor(clock.now() / 1000) });
      service = await startTestService({
        dialect,
        clock,
        env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret },
      });
      await ensureDefaultOrganization(service.deps.db, clock);
      await service.deps.db
        .insertInto('organizations')
        .values({ id: OTHER_ORG, name: 'Other', allowed_return_urls: '[]', created_at: clock.now() })
        .execute();
    });
    after(async () => {
      await service?.close();
      await receiver?.close();
    });

    const record = (data: Record<string, unknown> = { email: 'ada@example.com' }, organizationId = ORG) =>
      withTransaction(service.deps.db, (trx) =>
        service.deps.events.record(trx, {
          organizationId,
          type: 'account.connected',
          accountId: 'acc_01',
          ownerExternalId: 'user-42',
          data,
        }),
      );
    const deliveryOf = async (event: EventView) => {
      const row = await service.deps.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('event_id', '=', event.id)
        .executeTakeFirstOrThrow();
      return row;
    };
    const deliver = (deps: ServiceDeps = service.deps, limit = 50, timeoutMs?: number) =>
      deliverDueWebhooks(deps, { limit, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    /** Delivers what is due now, so each test starts with nothing pending. */
    const drain = async () => {
      while ((await deliver()) > 0) {
        // Keep going until nothing is due.
      }
    };

    test('delivers the event as signed JSON with its id and type headers, once', async () => {
      const event = await record({ email: 'ada@example.com', displayName: 'Ada' });
      const before = receiver.accepted.length;
      assert.equal(await deliver(), 1);
      assert.equal(receiver.accepted.length, before + 1);
      const received = receiver.accepted.at(-1);
      assert.ok(received?.event);
      assert.deepEqual(received.event, {
        id: event.id,
        type: 'account.connected',
        organizationId: ORG,
        createdAt: new Date(clock.now()).toISOString(),
        accountId: 'acc_01',
        ownerId: 'user-42',
        data: { email: 'ada@example.com', displayName: 'Ada' },
      });
      assert.equal(received.headers['content-type'], 'application/json');
      assert.equal(received.headers['mailbridge-event-id'], event.id);
      assert.equal(received.headers['mailbridge-event-type'], 'account.connected');
      // Independently of the receiver: the signature is over this body, with this secret, at the service's time.
      const header = received.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()];
      assert.match(header ?? '', /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.deepEqual(verifyWebhook(secret, received.body, header, { nowSeconds: Math.floor(clock.now() / 1000) }), {
        ok: true,
        timestampSeconds: Math.floor(clock.now() / 1000),
      });

      const row = await deliveryOf(event);
      assert.equal(row.status, 'delivered');
      assert.equal(row.attempts, 1);
      assert.equal(row.last_status_code, 204);
      assert.equal(row.last_error, null);
      assert.equal(row.delivered_at, clock.now());
      assert.equal(row.next_attempt_at, null);
      assert.equal(row.url, receiver.url);
      // Nothing left to do.
      assert.equal(await deliver(), 0);
      assert.equal(receiver.accepted.filter((d) => d.event?.id === event.id).length, 1);
    });

    test('retries after 500s and a hang with backoff, then delivers', async () => {
      await drain();
      const event = await record();
      receiver.failNext(2);
      const start = clock.now();

      assert.equal(await deliver(), 1);
      let row = await deliveryOf(event);
      assert.equal(row.status, 'pending');
      assert.equal(row.attempts, 1);
      assert.equal(row.last_status_code, 500);
      assert.equal(row.last_error, 'HTTP 500');
      assert.ok(row.next_attempt_at !== null);
      assert.ok(row.next_attempt_at >= start + 24_000 && row.next_attempt_at <= start + 36_000, 'about 30 s later');
      // Not due yet: nothing is attempted.
      clock.advance(20_000);
      assert.equal(await deliver(), 0);

      clock.set(row.next_attempt_at);
      assert.equal(await deliver(), 1);
      row = await deliveryOf(event);
      assert.equal(row.attempts, 2);
      assert.equal(row.last_status_code, 500);
      const second = clock.now();
      assert.ok(row.next_attempt_at !== null);
      assert.ok(row.next_attempt_at >= second + 96_000 && row.next_attempt_at <= second + 144_000, 'about 2 min later');

      // Third attempt: the receiver takes the request and never answers; the timeout ends the attempt.
      receiver.hangNext(1);
      clock.set(row.next_attempt_at);
      const requestsBefore = receiver.requests.length;
      assert.equal(await deliver(service.deps, 50, 300), 1);
      assert.equal(receiver.requests.length, requestsBefore + 1, 'the hung request reached the receiver');
      row = await deliveryOf(event);
      assert.equal(row.status, 'pending');
      assert.equal(row.attempts, 3);
      assert.equal(row.last_status_code, null);
      assert.match(row.last_error ?? '', /^timeout: no answer within 300 ms$/);
      const third = clock.now();
      assert.ok(row.next_attempt_at !== null);
      assert.ok(row.next_attempt_at >= third + 480_000 && row.next_attempt_at <= third + 720_000, 'about 10 min');

      clock.set(row.next_attempt_at);
      assert.equal(await deliver(), 1);
      row = await deliveryOf(event);
      assert.equal(row.status, 'delivered');
      assert.equal(row.attempts, 4);
      assert.equal(row.last_status_code, 204);
      assert.equal(row.last_error, null);
      assert.equal(receiver.accepted.filter((d) => d.event?.id === event.id).length, 1);
    });

    test('a refused connection is retried and recorded as a network error', async () => {
      await drain();
      const event = await record();
      // A port nobody listens on: bind one, then close it.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const deadPort = async (input: string | URL | Request, init?: RequestInit) =>
        fetch(String(input).replace(/:\d+\//, `:${port}/`), init);
      assert.equal(await deliverDueWebhooks(service.deps, { limit: 10, fetch: deadPort }), 1);
      const row = await deliveryOf(event);
      assert.equal(row.status, 'pending');
      assert.equal(row.last_status_code, null);
      assert.equal(row.last_error, 'network error: ECONNREFUSED');
      clock.set(row.next_attempt_at ?? 0);
      await drain();
      assert.equal((await deliveryOf(event)).status, 'delivered');
    });

    test(`gives up after ${WEBHOOK_MAX_ATTEMPTS} attempts (about a day) and marks the delivery failed`, async () => {
      await drain();
      const event = await record();
      const start = clock.now();
      receiver.failNext(1000, 503);
      for (let attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS; attempt++) {
        assert.equal(await deliver(), 1, `attempt ${attempt}`);
        const row = await deliveryOf(event);
        assert.equal(row.attempts, attempt);
        if (attempt < WEBHOOK_MAX_ATTEMPTS) {
          assert.equal(row.status, 'pending');
          assert.ok(row.next_attempt_at !== null);
          clock.set(row.next_attempt_at);
        }
      }
      receiver.failNext(0);
      const row = await deliveryOf(event);
      assert.equal(row.status, 'failed');
      assert.equal(row.next_attempt_at, null);
      assert.equal(row.last_status_code, 503);
      assert.equal(row.last_error, 'HTTP 503');
      const elapsedHours = (clock.now() - start) / 3_600_000;
      assert.ok(elapsedHours > 19 && elapsedHours < 31, `gave up after ${elapsedHours.toFixed(1)} h`);
      clock.advance(7 * 24 * 3_600_000);
      assert.equal(await deliver(), 0, 'a failed delivery is not attempted again by itself');
      assert.ok(service.logLines.some((line) => line.includes('giving up') && line.includes(event.id)));

      // The delivery log, through the API's data functions: filter by event and status.
      const failed = await listWebhookDeliveries(service.deps.db, ORG, { eventId: event.id, limit: 10 });
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.status, 'failed');
      assert.equal(failed[0]?.eventType, 'account.connected');
      assert.equal(failed[0]?.attempts, WEBHOOK_MAX_ATTEMPTS);
      assert.equal(failed[0]?.lastError, 'HTTP 503');
      assert.equal(failed[0]?.nextAttemptAt, null);
      const byStatus = await listWebhookDeliveries(service.deps.db, ORG, { status: 'failed', limit: 10 });
      assert.ok(byStatus.every((d) => d.status === 'failed'));
      assert.ok(byStatus.some((d) => d.eventId === event.id));

      // A manual retry starts a fresh schedule, and this time the receiver is back.
      const retried = await retryWebhookDeliveryOrThrow(service.deps.db, clock, ORG, failed[0]?.id ?? '');
      assert.equal(retried.status, 'pending');
      assert.equal(retried.attempts, 0);
      assert.equal(await deliver(), 1);
      const done = await findWebhookDeliveryOrThrow(service.deps.db, ORG, retried.id);
      assert.equal(done.status, 'delivered');
      assert.equal(done.attempts, 1);
      assert.equal(receiver.accepted.filter((d) => d.event?.id === event.id).length, 1);
    });

    test('retry refuses a pending delivery and another organisation’s delivery', async () => {
      await drain();
      receiver.failNext(1);
      const event = await record();
      assert.equal(await deliver(), 1);
      const pending = (await listWebhookDeliveries(service.deps.db, ORG, { eventId: event.id, limit: 1 }))[0];
      assert.equal(pending?.status, 'pending');
      await assert.rejects(retryWebhookDeliveryOrThrow(service.deps.db, clock, ORG, pending?.id ?? ''), {
        code: 'WEBHOOK_DELIVERY_ALREADY_PENDING',
        status: 409,
      });
      await assert.rejects(retryWebhookDeliveryOrThrow(service.deps.db, clock, OTHER_ORG, pending?.id ?? ''), {
        code: 'WEBHOOK_DELIVERY_NOT_FOUND',
        status: 404,
      });
      assert.deepEqual(await listWebhookDeliveries(service.deps.db, OTHER_ORG, { eventId: event.id, limit: 10 }), []);
      clock.advance(60_000);
      await drain();
    });

    test('two dispatchers running at once never deliver the same row twice', async () => {
      await drain();
      const other = await service.database.reopen();
      const otherDeps: ServiceDeps = { ...service.deps, db: other.db };
      const events: EventView[] = [];
      for (let i = 0; i < 40; i++) events.push(await record({ n: i }));
      // Both pools connected before the race starts, so neither side wins it just by connecting first.
      await Promise.all([sql`select 1`.execute(service.deps.db), sql`select 1`.execute(other.db)]);
      const before = receiver.requests.length;
      const run = async (deps: ServiceDeps) => {
        let total = 0;
        for (;;) {
          const n = await deliverDueWebhooks(deps, { limit: 3 });
          assert.ok(n <= 3, `claimed ${n} rows with limit 3`);
          if (n === 0) return total;
          total += n;
        }
      };
      const counts = await Promise.all([run(service.deps), run(otherDeps), run(service.deps), run(otherDeps)]);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        40,
      );
      const received = receiver.requests.slice(before).map((r) => r.headers['mailbridge-event-id']);
      assert.equal(received.length, 40, 'one request per event');
      assert.deepEqual(new Set(received), new Set(events.map((e) => e.id)));
      if (dialect === 'postgres') assert.ok(counts.filter((n) => n > 0).length >= 2, 'the work was shared');
      for (const event of events) assert.equal((await deliveryOf(event)).status, 'delivered');
    });

    if (dialect === 'postgres') {
      test('a claim skips rows another worker holds locked instead of waiting for them', async () => {
        await drain();
        const held = await record({ n: 'held' });
        const free = await record({ n: 'free' });
        const other = await service.database.reopen();
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked: () => void = () => undefined;
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const holder = other.db.transaction().execute(async (trx) => {
          await trx.selectFrom('webhook_deliveries').select('id').where('event_id', '=', held.id).forUpdate().execute();
          locked();
          await released;
        });
        await isLocked;
        try {
          assert.equal(await deliver(), 1, 'only the unlocked row is claimed, without waiting for the lock');
          assert.equal((await deliveryOf(free)).status, 'delivered');
          assert.equal((await deliveryOf(held)).status, 'pending');
        } finally {
          release();
          await holder;
        }
        assert.equal(await deliver(), 1);
        assert.equal((await deliveryOf(held)).status, 'delivered');
      });
    }

    test('the background worker delivers due webhooks as one of its tasks', async () => {
      await drain();
      const work = startBackgroundWork(service.deps, { autoStart: false });
      try {
        assert.ok(work.tasks.some((task) => task.name === 'webhook-delivery'));
        const events: EventView[] = [];
        for (let i = 0; i < 3; i++) events.push(await record({ n: `worker-${i}` }));
        await work.runOnce();
        for (const event of events) assert.equal((await deliveryOf(event)).status, 'delivered');
      } finally {
        await work.stop();
      }
    });

    test('deliverWebhookBatches keeps going while batches come back full, up to its bound', async () => {
      await drain();
      for (let i = 0; i < 7; i++) await record({ n: `batch-${i}` });
      assert.equal(await deliverWebhookBatches(service.deps, { limit: 2, batches: 3 }), 6);
      assert.equal(await deliverWebhookBatches(service.deps, { limit: 2, batches: 3 }), 1);
      assert.equal(await deliverWebhookBatches(service.deps, { limit: 2, batches: 3 }), 0);
    });

    test('replayed and tampered deliveries are rejected by the receiver', async () => {
      await drain();
      const event = await record({ email: 'ada@example.com' });
      assert.equal(await deliver(), 1);
      const original = receiver.accepted.find((d) => d.event?.id === event.id);
      assert.ok(original);
      const headers = {
        'content-type': 'application/json',
        'mailbridge-signature': original.headers['mailbridge-signature'] ?? '',
        'mailbridge-event-id': event.id,
      };

      // Resent at once: genuine, so accepted, and recognised as a duplicate (at-least-once delivery).
      assert.equal((await postRaw(receiver.url, original.body, headers)).status, 200);
      assert.equal(receiver.accepted.at(-1)?.duplicate, true);

      // Tampered body, same signature.
      const tampered = original.body.replace('ada@example.com', 'eve@example.com');
      assert.notEqual(tampered, original.body);
      let answer = await postRaw(receiver.url, tampered, headers);
      assert.equal(answer.status, 401);
      assert.equal(receiver.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_MISMATCH');

      // Signed with another secret.
      const now = Math.floor(clock.now() / 1000);
      const forged = signWebhook(randomBytes(32).toString('hex'), tampered, now);
      answer = await postRaw(receiver.url, tampered, { ...headers, 'mailbridge-signature': forged });
      assert.equal(answer.status, 401);
      assert.equal(receiver.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_MISMATCH');

      // A fresh timestamp pasted onto the old signature.
      const restamped = headers['mailbridge-signature'].replace(/^t=\d+/, `t=${now + 600}`);
      clock.advance(600_000);
      answer = await postRaw(receiver.url, original.body, { ...headers, 'mailbridge-signature': restamped });
      assert.equal(answer.status, 401);
      assert.equal(receiver.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_MISMATCH');

      // The exact captured delivery, replayed after the 5-minute window.
      answer = await postRaw(receiver.url, original.body, headers);
      assert.equal(answer.status, 401);
      assert.equal(receiver.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_TIMESTAMP_OUT_OF_TOLERANCE');

      // No signature at all.
      answer = await postRaw(receiver.url, original.body, { 'content-type': 'application/json' });
      assert.equal(answer.status, 400);
      assert.equal(receiver.rejected.at(-1)?.code, 'WEBHOOK_SIGNATURE_MISSING');
      assert.equal(receiver.accepted.filter((d) => d.event?.id === event.id).length, 2);
    });

    test('the secret appears nowhere: not in the delivery log, the service log or the requests', async () => {
      await drain();
      receiver.failNext(1);
      await record();
      await deliver();
      clock.advance(60_000);
      await drain();
      const rows = await service.deps.db.selectFrom('webhook_deliveries').selectAll().execute();
      assert.ok(rows.length > 0);
      const views = await listWebhookDeliveries(service.deps.db, ORG, { limit: 1000 });
      assert.ok(service.logLines.some((line) => line.includes('webhook delivered')));
      assert.ok(service.logLines.some((line) => line.includes('will retry')));
      const haystacks = {
        rows: JSON.stringify(rows),
        views: JSON.stringify(views),
        log: service.logLines.join('\n'),
        requests: JSON.stringify(receiver.requests),
      };
      for (const [name, text] of Object.entries(haystacks)) {
        assert.equal(text.includes(secret), false, `the webhook secret is in ${name}`);
        assert.equal(text.includes(Buffer.from(secret).toString('base64')), false, `base64 secret in ${name}`);
      }
    });
  });
}

describe('without WEBHOOK_URL', () => {
  test('nothing is queued and the dispatcher does nothing', async () => {
    const service = await startTestService();
    try {
      await ensureDefaultOrganization(service.deps.db, service.deps.clock);
      await withTransaction(service.deps.db, (trx) =>
        service.deps.events.record(trx, { organizationId: ORG, type: 'owner.deleted', data: {} }),
      );
      assert.equal(await deliverDueWebhooks(service.deps, { limit: 10 }), 0);
      const rows = await service.deps.db.selectFrom('webhook_deliveries').selectAll().execute();
      assert.deepEqual(rows, []);
    } finally {
      await service.close();
    }
  });
});
