/**
 * The job seam (src/jobs/) on both dialects. PostgreSQL: pg-boss jobs are written in the caller's transaction (rolled
 * back, no job; committed, one job, fetched once), one waiting job per singleton key that a second request merges
 * into and moves earlier (never later), a merge that keeps workers off the job until its transaction ends, an accept
 * that is one statement when its mailbox's job waits early enough (and keeps workers off that job until it commits),
 * and the whole path: a message accepted through the API is sent by the job worker alone, exactly once. SQLite: the
 * in-process loop, nudged by an enqueue, sends an accepted message long before its interval; `api`/`worker` on
 * SQLite say the split is not supported. Both: a lane pass sends what the mailbox's budget allows and says when to
 * come back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { addFault, removeFault } from '../../emulator/control/actions.js';
import { createConnectSession } from '../../src/connect/connect-sessions.js';
import type { Database, DbDialect } from '../../src/db/schema.js';
import { withTransaction } from '../../src/db/transaction.js';
import { InProcessJobEngine } from '../../src/jobs/in-process-engine.js';
import { JOBS } from '../../src/jobs/job-engine.js';
import { startJobWorker } from '../../src/jobs/job-worker.js';
import { type FetchedJob, PgBossJobEngine } from '../../src/jobs/pg-boss-engine.js';
import { ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { dispatchLane } from '../../src/outbox/dispatcher.js';
import { validateMessageOrThrow } from '../../src/outbox/message-input.js';
import { acceptMessage, type IdempotentRequest } from '../../src/outbox/message-store.js';
import { resolveAccountTargetOrThrow } from '../../src/outbox/message-target.js';
import { submitMessage } from '../../src/outbox/submit-message.js';
import { SQLITE_SPLIT_WARNING, startBackgroundForRole } from '../../src/worker/background-role.js';
import { type BackgroundWork, startBackgroundWork } from '../../src/worker/background-work.js';
import { type ApiClient, createApiClient } from '../api/api-test-support.js';
import { Browser, connectThroughMicrosoft, outcomeStatus, RETURN_URL } from '../connect/connect-test-kit.js';
import { startTestService, type TestService } from '../support/service.js';
import { deferred, waitFor } from '../support/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/** Each suite well inside the runner's 3-minute file timeout, so a test that hangs is reported by name. */
const SUITE_TIMEOUT = { timeout: 120_000 };

interface Harness {
  service: TestService;
  client: ApiClient;
  accountId: string;
}

async function startHarness(
  dialect: DbDialect,
  options: { jobs?: 'auto' | 'in-process'; env?: Record<string, string> } = {},
): Promise<Harness> {
  const service = await startTestService({ dialect, jobs: options.jobs ?? 'in-process', env: { ...options.env } });
  const client = await createApiClient(service, 'Acme Recruiting', [RETURN_URL]);
  const session = await createConnectSession(service.deps, {
    organizationId: client.organization.id,
    ownerExternalId: 'recruiter-1',
    permissionProfile: 'send',
    returnUrl: RETURN_URL,
  });
  const email = service.emulator.seed.users.work.email;
  const { page } = await connectThroughMicrosoft(service, new Browser(), session.id, { email });
  assert.equal(outcomeStatus(page.html), 'connected');
  const account = await service.deps.db
    .selectFrom('accounts')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  return { service, client, accountId: account.id };
}

async function submit(h: Harness, subject: string): Promise<{ id: string; internetMessageId: string }> {
  const answer = await h.client.call('POST', `/v1/accounts/${h.accountId}/messages`, {
    to: 'candidate@example.net',
    subject,
    text: 'Hello.',
  });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body;
}

async function messageStatus(h: Harness, id: string): Promise<string> {
  const row = await h.service.deps.db
    .selectFrom('outbox_messages')
    .select('status')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.status;
}

function deliveriesOf(h: Harness, internetMessageId: string): number {
  return h.service.emulator.ctx.world.deliveries.filter((each) => each.internetMessageId === internetMessageId).length;
}

describe('job seam: pg-boss on PostgreSQL', SUITE_TIMEOUT, () => {
  let h: Harness;
  let engine: PgBossJobEngine;
  const rolledBack = new Error('rolled back on purpose');

  /** pg-boss's rows for a queue and key, read from its own table (in the test's schema). */
  const jobsOf = async (name: string, key: string) => {
    const result = await sql<{ state: string; start_after: Date }>`
      select state, start_after from ${sql.id(engine.schema, 'job')}
      where name = ${name} and singleton_key = ${key} order by created_on`.execute(h.service.deps.db);
    return result.rows;
  };

  before(async () => {
    h = await startHarness('postgres', { jobs: 'auto' });
    assert.ok(h.service.deps.jobs instanceof PgBossJobEngine, 'PostgreSQL composes pg-boss');
    engine = h.service.deps.jobs;
  });
  after(async () => {
    await h?.service.close();
  });

  it("keeps pg-boss's tables in the service's own schema when it has one", async () => {
    assert.equal(engine.schema, h.service.database.searchPath);
  });

  it('an enqueue rolled back with its transaction leaves no job; committed, it is one job, fetched once', async () => {
    const name = JOBS.webhookDelivery;
    await assert.rejects(
      withTransaction(h.service.deps.db, async (trx) => {
        await engine.enqueue(trx, name, { deliveryId: 'whd_rolled_back' }, { singletonKey: 'whd_rolled_back' });
        throw rolledBack;
      }),
      rolledBack,
    );
    assert.deepEqual(await jobsOf(name, 'whd_rolled_back'), []);

    await withTransaction(h.service.deps.db, async (trx) => {
      await engine.enqueue(trx, name, { deliveryId: 'whd_committed' }, { singletonKey: 'whd_committed' });
    });
    assert.deepEqual(
      (await jobsOf(name, 'whd_committed')).map((job) => job.state),
      ['created'],
    );
    const fetched = await engine.fetch(name, 10);
    assert.deepEqual(
      fetched.map((job) => job.data),
      [{ deliveryId: 'whd_committed' }],
    );
    assert.deepEqual(await engine.fetch(name, 10), [], 'a fetched job is not fetched again');
    for (const job of fetched) await engine.complete(job.name, job.id);
    assert.deepEqual(
      (await jobsOf(name, 'whd_committed')).map((job) => job.state),
      ['completed'],
    );
  });

  it('one waiting job per key: a second request merges into it and moves it earlier, never later', async () => {
    const name = JOBS.outboxMailbox;
    const now = Date.now();
    const db = h.service.deps.db;
    await engine.enqueue(db, name, { lane: 'lane-merge' }, { singletonKey: 'lane-merge', startAfter: now + 3_600_000 });
    await engine.enqueue(db, name, { lane: 'lane-merge' }, { singletonKey: 'lane-merge', startAfter: now + 7_200_000 });
    let jobs = await jobsOf(name, 'lane-merge');
    assert.equal(jobs.length, 1, 'one waiting job');
    assert.equal(jobs[0]?.start_after.getTime(), now + 3_600_000, 'a later request does not postpone it');
    await engine.enqueue(db, name, { lane: 'lane-merge' }, { singletonKey: 'lane-merge', startAfter: now + 60_000 });
    jobs = await jobsOf(name, 'lane-merge');
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]?.start_after.getTime(), now + 60_000, 'an earlier request moves it earlier');
  });

  it('a message for a mailbox waiting out its minute asks for its pass when the pause ends, not before', async () => {
    const db = h.service.deps.db;
    const pausedUntil = Date.now() + 45_000;
    await db
      .insertInto('outbox_pacing')
      .values({
        lane: h.accountId,
        throttled_until: null,
        paced_until: pausedUntil,
        last_claimed_at: null,
        updated_at: 0,
      })
      .onConflict((conflict) => conflict.column('lane').doUpdateSet({ paced_until: pausedUntil }))
      .execute();
    try {
      await submit(h, 'Waits for the minute');
      const waiting = (await jobsOf(JOBS.outboxMailbox, h.accountId)).filter((job) => job.state === 'created');
      assert.equal(waiting.length, 1);
      assert.equal(waiting[0]?.start_after.getTime(), pausedUntil);
    } finally {
      await db.updateTable('outbox_pacing').set({ paced_until: null }).where('lane', '=', h.accountId).execute();
      await sql`delete from ${sql.id(engine.schema, 'job')} where name = ${JOBS.outboxMailbox} and singleton_key = ${h.accountId}`.execute(
        db,
      );
    }
  });

  it('a job running does not absorb a new request: a second one waits (no lost wake-up)', async () => {
    const name = JOBS.outboxMailbox;
    const db = h.service.deps.db;
    await engine.enqueue(db, name, { lane: 'lane-busy' }, { singletonKey: 'lane-busy', startAfter: Date.now() - 1000 });
    const [running] = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === 'lane-busy');
    assert.ok(running, 'the first job is running');
    await engine.enqueue(db, name, { lane: 'lane-busy' }, { singletonKey: 'lane-busy', startAfter: Date.now() - 1000 });
    assert.deepEqual(
      (await jobsOf(name, 'lane-busy')).map((job) => job.state),
      ['active', 'created'],
    );
    await engine.complete(running.name, running.id);
    const [next] = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === 'lane-busy');
    assert.ok(next, 'the waiting one runs after it');
    await engine.complete(next.name, next.id);
  });

  it('a merge keeps workers off the waiting job until its transaction commits', async () => {
    const name = JOBS.outboxMailbox;
    const db = h.service.deps.db;
    const due = Date.now() - 1000;
    await engine.enqueue(db, name, { lane: 'lane-held' }, { singletonKey: 'lane-held', startAfter: due });
    const holding = deferred();
    const merged = deferred();
    const transaction = withTransaction(db, async (trx) => {
      await engine.enqueue(trx, name, { lane: 'lane-held' }, { singletonKey: 'lane-held', startAfter: due });
      merged.resolve();
      await holding.promise;
    });
    // (If the enqueue fails, the transaction ends without ever merging: its error, not a wait for ever.)
    await Promise.race([merged.promise, transaction]);
    let whileOpen: FetchedJob[];
    try {
      whileOpen = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === 'lane-held');
    } finally {
      // Always: a transaction left open keeps its pooled connection, and closing the pool would wait for it forever.
      holding.resolve();
      await transaction;
    }
    assert.deepEqual(whileOpen, [], 'a worker cannot take the job while the merging transaction is open');
    const afterCommit = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === 'lane-held');
    assert.equal(afterCommit.length, 1, 'after the commit it runs, and sees what the transaction wrote');
    for (const job of afterCommit) await engine.complete(job.name, job.id);
  });

  describe('the accept in one statement', () => {
    let counted: Kysely<Database>;
    /** Every statement `counted` sent, BEGIN and COMMIT included (Kysely's log sees what its driver sends). */
    const statements: string[] = [];
    const name = JOBS.outboxMailbox;
    const clearLane = async () => {
      const db = h.service.deps.db;
      await sql`delete from ${sql.id(engine.schema, 'job')} where name = ${name} and singleton_key = ${h.accountId}`.execute(
        db,
      );
      await db
        .updateTable('outbox_pacing')
        .set({ throttled_until: null, paced_until: null })
        .where('lane', '=', h.accountId)
        .execute();
      await db
        .updateTable('outbox_messages')
        .set({ status: 'canceled', next_attempt_at: null })
        .where('lane', '=', h.accountId)
        .where('status', '=', 'queued')
        .execute();
    };
    const pauseLane = (until: number) =>
      h.service.deps.db
        .insertInto('outbox_pacing')
        .values({ lane: h.accountId, throttled_until: null, paced_until: until, last_claimed_at: null, updated_at: 0 })
        .onConflict((conflict) => conflict.column('lane').doUpdateSet({ paced_until: until }))
        .execute();
    /** Accepts a message through the store on `counted` (or `db`, a transaction), as the API does after its checks. */
    const accept = async (
      subject: string,
      options: { db?: Kysely<Database>; idempotency?: IdempotentRequest } = {},
    ) => {
      const deps = { ...h.service.deps, db: options.db ?? counted };
      const target = await resolveAccountTargetOrThrow(h.service.deps.db, h.client.organization.id, h.accountId);
      const message = validateMessageOrThrow(
        { to: [{ address: 'candidate@example.net' }], subject, text: 'Hello.' },
        { maxRecipientsPerMessage: deps.config.outbox.maxRecipientsPerMessage },
        deps.clock.now(),
      );
      statements.length = 0;
      return acceptMessage(deps, target, message, options.idempotency);
    };
    const messageRow = (id: string) =>
      h.service.deps.db.selectFrom('outbox_messages').selectAll().where('id', '=', id).executeTakeFirst();

    before(async () => {
      const config = h.service.database.config;
      assert.equal(config.dialect, 'postgres');
      counted = new Kysely<Database>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: config.url.reveal(), max: 2 }) }),
        log: (event) => {
          statements.push(event.query.sql);
        },
      });
    });
    after(async () => {
      await clearLane();
      await counted?.destroy();
    });

    it("a message whose mailbox's pass waits early enough is one INSERT, and no job is asked for", async () => {
      await clearLane();
      const due = Date.now() - 60_000;
      await engine.enqueue(
        h.service.deps.db,
        name,
        { lane: h.accountId },
        { singletonKey: h.accountId, startAfter: due },
      );
      const jobsBefore = await jobsOf(name, h.accountId);
      const { row, created } = await accept('Behind a waiting pass');
      assert.ok(created);
      assert.equal(statements.length, 1, statements.join('\n'));
      assert.match(statements[0] ?? '', /^insert into "outbox_messages"/);
      assert.equal((await messageRow(row.id))?.status, 'queued', 'the message is committed');
      assert.deepEqual(await jobsOf(name, h.accountId), jobsBefore, 'the same one job, untouched');
    });

    it('a pass that starts after the pause ends is moved to its end; one starting at its end is left as it is', async () => {
      await clearLane();
      const pausedUntil = Date.now() + 45_000;
      await pauseLane(pausedUntil);
      const db = h.service.deps.db;
      const lane = h.accountId;
      await engine.enqueue(db, name, { lane }, { singletonKey: lane, startAfter: pausedUntil + 1 });
      const late = await accept('Behind a pass a millisecond too late');
      assert.ok(statements.includes('begin'), 'the transaction path');
      assert.ok(await messageRow(late.row.id));
      assert.deepEqual(
        (await jobsOf(name, lane)).map((job) => [job.state, job.start_after.getTime()]),
        [['created', pausedUntil]],
      );
      const onTime = await accept('Behind a pass starting as the pause ends');
      assert.equal(statements.length, 1, statements.join('\n'));
      assert.ok(await messageRow(onTime.row.id));
      assert.deepEqual(
        (await jobsOf(name, lane)).map((job) => [job.state, job.start_after.getTime()]),
        [['created', pausedUntil]],
      );
    });

    it('a message whose mailbox has no pass waiting gets one, when the pause ends', async () => {
      await clearLane();
      const pausedUntil = Date.now() + 45_000;
      await pauseLane(pausedUntil);
      const { row } = await accept('No pass waits');
      assert.ok(await messageRow(row.id));
      assert.deepEqual(
        (await jobsOf(name, h.accountId)).map((job) => [job.state, job.start_after.getTime()]),
        [['created', pausedUntil]],
      );
    });

    it('keeps workers off the waiting job until the statement commits, and the message is visible from then', async () => {
      await clearLane();
      const db = h.service.deps.db;
      await engine.enqueue(
        db,
        name,
        { lane: h.accountId },
        { singletonKey: h.accountId, startAfter: Date.now() - 1000 },
      );
      const holding = deferred();
      const inserted = deferred();
      let id: string | undefined;
      let sentInside: string[] = [];
      // The one statement in a transaction held open, so the lock it took can be looked at.
      const transaction = withTransaction(counted, async (trx) => {
        id = (await accept('Inserted, not yet committed', { db: trx })).row.id;
        sentInside = [...statements];
        inserted.resolve();
        await holding.promise;
      });
      await Promise.race([inserted.promise, transaction]);
      let whileOpen: FetchedJob[];
      let visibleWhileOpen: boolean;
      try {
        whileOpen = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === h.accountId);
        visibleWhileOpen = id !== undefined && (await messageRow(id)) !== undefined;
      } finally {
        holding.resolve();
        await transaction;
      }
      assert.ok(id, 'the statement inserted the message');
      assert.deepEqual(whileOpen, [], "pg-boss's fetch skips the job while the transaction is open");
      assert.equal(visibleWhileOpen, false);
      assert.equal(sentInside.length, 1, sentInside.join('\n'));
      assert.match(sentInside[0] ?? '', /^insert into "outbox_messages" .* for share\)$/s, 'the one statement');
      const afterCommit = (await engine.fetch(name, 10)).filter((job) => job.data['lane'] === h.accountId);
      assert.equal(afterCommit.length, 1, 'after the commit the job runs');
      assert.ok(await messageRow(id), 'and the message is there for it');
      for (const job of afterCommit) await engine.complete(job.name, job.id);
    });

    it('a repeated idempotency key meets the unique constraint in the one statement and gets the first message', async () => {
      await clearLane();
      await engine.enqueue(h.service.deps.db, name, { lane: h.accountId }, { singletonKey: h.accountId });
      const idempotency = { key: 'one-statement-key', hash: 'same-request' };
      const first = await accept('Keyed', { idempotency });
      const again = await accept('Keyed', { idempotency });
      assert.equal(again.created, false);
      assert.equal(again.row.id, first.row.id);
      assert.match(statements[0] ?? '', /^insert into "outbox_messages"/, 'it met the constraint in the one statement');
    });

    it('accepts racing for one mailbox whose pass waits too late all commit, and move the pass once', async () => {
      await clearLane();
      const later = Date.now() + 3_600_000;
      await engine.enqueue(
        h.service.deps.db,
        name,
        { lane: h.accountId },
        { singletonKey: h.accountId, startAfter: later },
      );
      // Each takes the transaction's path and moves the pass: two that held the waiting job FOR SHARE before their
      // merge UPDATE would each wait for the other's lock, and PostgreSQL would abort one (a failed accept).
      const racing = Array.from({ length: 8 }, (_, n) => accept(`Racing ${n}`, { db: h.service.deps.db }));
      const results = await Promise.allSettled(racing);
      assert.deepEqual(
        results.filter((result) => result.status === 'rejected').map((result) => String(result.reason)),
        [],
      );
      const waiting = (await jobsOf(name, h.accountId)).filter((job) => job.state === 'created');
      assert.equal(waiting.length, 1, 'one waiting pass');
      assert.ok((waiting[0]?.start_after.getTime() ?? later) < later, 'moved earlier');
    });
  });

  it('a message accepted while a later pass of its mailbox waits moves that pass to now; an earlier one stays', async () => {
    const name = JOBS.outboxMailbox;
    const db = h.service.deps.db;
    const lane = h.accountId;
    const clearJobs = () =>
      sql`delete from ${sql.id(engine.schema, 'job')} where name = ${name} and singleton_key = ${lane}`.execute(db);
    await clearJobs();
    try {
      await engine.enqueue(db, name, { lane }, { singletonKey: lane, startAfter: Date.now() + 3_600_000 });
      const before = Date.now();
      await submit(h, 'Due now, behind a pass in an hour');
      let waiting = (await jobsOf(name, lane)).filter((job) => job.state === 'created');
      assert.equal(waiting.length, 1, 'still one waiting job');
      assert.ok((waiting[0]?.start_after.getTime() ?? Number.POSITIVE_INFINITY) <= Date.now(), 'moved to now');
      assert.ok((waiting[0]?.start_after.getTime() ?? 0) >= before - 1000);
      const early = Date.now() - 60_000;
      await clearJobs();
      await engine.enqueue(db, name, { lane }, { singletonKey: lane, startAfter: early });
      await submit(h, 'Due now, behind a pass due already');
      waiting = (await jobsOf(name, lane)).filter((job) => job.state === 'created');
      assert.deepEqual(
        waiting.map((job) => job.start_after.getTime()),
        [early],
        'the waiting job takes it as it is',
      );
    } finally {
      await clearJobs();
      await db
        .updateTable('outbox_messages')
        .set({ status: 'canceled' })
        .where('lane', '=', lane)
        .where('status', '=', 'queued')
        .execute();
    }
  });

  it('a message accepted through the API is sent by the job worker alone, exactly once', async () => {
    assert.equal(await startBackgroundForRole(h.service.deps, 'api'), undefined, 'an api process only enqueues');
    const worker = await startJobWorker(h.service.deps, engine);
    try {
      const message = await submit(h, 'Sent by a job');
      const lane = h.accountId;
      await waitFor(
        'the message sent',
        async () => ((await messageStatus(h, message.id)) === 'sent' ? true : undefined),
        {
          timeoutMs: 20_000,
          describe: async () =>
            `status ${await messageStatus(h, message.id)}, ` +
            `jobs ${JSON.stringify(await jobsOf(JOBS.outboxMailbox, lane))}`,
        },
      );
      assert.equal(deliveriesOf(h, message.internetMessageId), 1, 'delivered once');
      // The job completes once its pass has looked at what is left (just after the send).
      const states = await waitFor(
        "the mailbox's job completed",
        async () => {
          const all = (await jobsOf(JOBS.outboxMailbox, lane)).map((job) => job.state);
          return all.includes('completed') && !all.includes('active') ? all : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      assert.ok(!states.includes('failed') && !states.includes('retry'), `no job failed: ${states.join(', ')}`);
    } finally {
      await worker.stop();
    }
  });

  it('a stopping worker finishes its sends in flight, claims no more, and hands the lane on', async () => {
    // Slow answers, so the stop lands while the mailbox's pass is sending.
    const fault = addFault(h.service.emulator.ctx, { kind: 'latency', target: 'graph', latencyMs: 300 });
    const messages: Array<{ id: string; internetMessageId: string }> = [];
    for (let i = 0; i < 12; i++) messages.push(await submit(h, `Handed over ${i}`));
    const statuses = async () => Promise.all(messages.map((message) => messageStatus(h, message.id)));
    const first = await startJobWorker(h.service.deps, engine);
    try {
      await waitFor('the first sends', async () => ((await statuses()).includes('sent') ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 20,
      });
    } finally {
      await first.stop();
    }
    const afterStop = await statuses();
    removeFault(h.service.emulator.ctx, fault.id);
    assert.ok(!afterStop.includes('sending'), `no send left half done: ${afterStop.join(', ')}`);
    assert.ok(afterStop.includes('queued'), `the stop came mid-pass: ${afterStop.join(', ')}`);
    const waiting = (await jobsOf(JOBS.outboxMailbox, h.accountId)).filter((job) => job.state === 'created');
    assert.equal(waiting.length, 1, 'the lane was handed to a new job');

    const second = await startJobWorker(h.service.deps, engine);
    try {
      await waitFor('the rest sent', async () => ((await statuses()).every((s) => s === 'sent') ? true : undefined), {
        timeoutMs: 20_000,
      });
      for (const message of messages) assert.equal(deliveriesOf(h, message.internetMessageId), 1);
    } finally {
      await second.stop();
    }
  });
});

describe('job seam: webhook deliveries as pg-boss jobs', SUITE_TIMEOUT, () => {
  const secret = `whsec-${'0123456789abcdef'.repeat(3)}`;
  let receiver: WebhookReceiver;
  let service: TestService;
  let worker: BackgroundWork | undefined;
  before(async () => {
    receiver = await startWebhookReceiver({ secret });
    service = await startTestService({
      dialect: 'postgres',
      jobs: 'auto',
      env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret },
    });
  });
  after(async () => {
    await worker?.stop();
    await service?.close();
    await receiver?.close();
  });

  it("an event's delivery is a job committed with it; a failed attempt schedules its retry's job", async () => {
    const engine = service.deps.jobs;
    assert.ok(engine instanceof PgBossJobEngine);
    // WEBHOOK_URL is the Default organisation's endpoint.
    const organization = await ensureDefaultOrganization(service.deps.db, service.deps.clock);
    const record = (n: number) =>
      withTransaction(service.deps.db, (trx) =>
        service.deps.events.record(trx, {
          organizationId: organization.id,
          type: 'app.secret_expiring',
          data: { n },
        }),
      );
    const deliveryOf = (eventId: string) =>
      service.deps.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('event_id', '=', eventId)
        .executeTakeFirstOrThrow();
    const jobOf = async (deliveryId: string) =>
      (
        await sql<{ state: string; start_after: Date }>`
          select state, start_after from ${sql.id(engine.schema, 'job')}
          where name = ${JOBS.webhookDelivery} and singleton_key = ${deliveryId} order by created_on`.execute(
          service.deps.db,
        )
      ).rows;

    receiver.failNext(1);
    const first = await record(1);
    const firstDelivery = await deliveryOf(first.id);
    assert.deepEqual(
      (await jobOf(firstDelivery.id)).map((job) => job.state),
      ['created'],
    );
    worker = await startJobWorker(service.deps, engine);
    await waitFor('the first attempt', () => (receiver.requests.length >= 1 ? true : undefined), { timeoutMs: 10_000 });
    const failed = await waitFor(
      'the failed attempt recorded',
      async () => {
        const row = await deliveryOf(first.id);
        return row.attempts === 1 ? row : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    assert.equal(failed.status, 'pending');
    // (The worker's first sweep may have asked for the delivery too; a request merged into the earlier one looks
    // again and asks for the retry's time itself.)
    await waitFor(
      "the retry's job, due when the row says",
      async () => {
        const waiting = (await jobOf(failed.id)).filter((job) => job.state === 'created');
        return waiting.length === 1 && waiting[0]?.start_after.getTime() === Number(failed.next_attempt_at)
          ? true
          : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, describe: async () => JSON.stringify(await jobOf(failed.id)) },
    );

    const second = await record(2);
    await waitFor(
      'the second event delivered',
      () => (receiver.acceptedEventIds().includes(second.id) ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );
  });
});

describe('job seam: the in-process loop on SQLite', SUITE_TIMEOUT, () => {
  let h: Harness;
  let loop: BackgroundWork | undefined;
  before(async () => {
    h = await startHarness('sqlite');
  });
  after(async () => {
    await loop?.stop();
    await h?.service.close();
  });

  it('an accepted message nudges the loop: sent long before the loop’s interval', async () => {
    assert.equal(h.service.deps.jobs.kind, 'in-process');
    // An hour between ticks: only the enqueue's nudge can get this message out within the test.
    loop = startBackgroundWork(h.service.deps, { intervalMs: 3_600_000 });
    const message = await submit(h, 'Sent after a nudge');
    await waitFor(
      'the message sent',
      async () => ((await messageStatus(h, message.id)) === 'sent' ? true : undefined),
      {
        timeoutMs: 15_000,
      },
    );
    assert.equal(deliveriesOf(h, message.internetMessageId), 1);
  });

  it('a message accepted in a transaction that rolls back still nudges the loop; its tick sends nothing', async () => {
    assert.ok(loop, 'the loop of the previous test');
    const engine = h.service.deps.jobs;
    assert.ok(engine instanceof InProcessJobEngine);
    const nudges: string[] = [];
    const stopCounting = engine.onDue((name) => nudges.push(name));
    const attempts = () =>
      h.service.deps.db
        .selectFrom('outbox_attempts')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
        .then((row) => Number(row.n));
    const attemptsBefore = await attempts();
    const subject = 'Accepted, then rolled back';
    await assert.rejects(
      withTransaction(h.service.deps.db, async (trx) => {
        // The accept joins this transaction (its message, its attempt log, its nudge), and the rollback undoes it.
        await submitMessage(
          { ...h.service.deps, db: trx },
          h.client.organization.id,
          { accountId: h.accountId },
          {
            to: 'candidate@example.net',
            subject,
            text: 'Never sent.',
          },
        );
        throw new Error('rolled back');
      }),
      /rolled back/,
    );
    stopCounting();
    // The in-process engine cannot take a nudge back: the loop is asked for a tick, and that tick finds nothing.
    assert.deepEqual(nudges, [JOBS.outboxMailbox]);
    await loop.runOnce();
    assert.equal(await attempts(), attemptsBefore, 'no attempt made');
    const stored = await h.service.deps.db
      .selectFrom('outbox_messages')
      .select('id')
      .where('subject', '=', subject)
      .execute();
    assert.deepEqual(stored, [], 'the message went with the rollback');
    assert.ok(!h.service.emulator.ctx.world.deliveries.some((each) => each.subject === subject), 'nothing sent');
  });

  it('api and worker on SQLite say the split is not supported; the worker runs the loop, the api nothing', async () => {
    const before = h.service.logLines.length;
    const api = await startBackgroundForRole(h.service.deps, 'api');
    assert.equal(api, undefined);
    const worker = await startBackgroundForRole(h.service.deps, 'worker');
    assert.ok(worker, 'the worker runs the in-process loop');
    await worker.stop();
    const warnings = h.service.logLines.slice(before).filter((line) => line.includes(SQLITE_SPLIT_WARNING));
    assert.equal(warnings.length, 2, 'said once by each role');
  });
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`a lane pass [${dialect}]`, SUITE_TIMEOUT, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect, { env: { MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE: '2' } });
    });
    after(async () => {
      await h?.service.close();
    });

    it("sends what the mailbox's minute allows, then says to come back when the minute frees", async () => {
      const messages: Array<{ id: string; internetMessageId: string }> = [];
      for (let i = 0; i < 3; i++) messages.push(await submit(h, `Paced ${i}`));
      const started = h.service.deps.clock.now();
      const pass = await dispatchLane(h.service.deps, h.accountId, { workerId: 'lane-pass-test' });
      assert.equal(pass.attempted, 2, 'two a minute');
      const statuses = await Promise.all(messages.map((message) => messageStatus(h, message.id)));
      assert.deepEqual(statuses.sort(), ['queued', 'sent', 'sent']);
      assert.ok(pass.wakeAt !== null, 'work remains: a time to come back');
      assert.ok(pass.wakeAt >= started + 59_000, `not before the minute frees (${pass.wakeAt - started} ms)`);
      assert.ok(pass.wakeAt <= h.service.deps.clock.now() + 61_000, 'and not much later');

      const again = await dispatchLane(h.service.deps, h.accountId, { workerId: 'lane-pass-test' });
      assert.equal(again.attempted, 0, 'a pass inside the minute claims nothing');
    });

    it('a lane with nothing queued or in flight needs no wake-up', async () => {
      const pass = await dispatchLane(h.service.deps, 'lane-without-messages', { workerId: 'lane-pass-test' });
      assert.deepEqual(pass, { attempted: 0, wakeAt: null });
    });
  });
}
