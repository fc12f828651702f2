import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addFault } from '../../emulator/control/actions.js';
import type { DeliveryRecord } from '../../emulator/state/model.js';
import type { DatabaseHandle } from '../../src/db/open-database.js';
import { processLeaseOwnerPrefix } from '../../src/platform/ids.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { AcceptanceWorld } from './support/acceptance-world.js';
import { ServiceProcess } from './support/service-process.js';

/**
 * Issue 5, "Done when" 1: mailbridge scaled out on one PostgreSQL schema, 2 `mailbridge api` and 3 `mailbridge worker`
 * processes (`node --import tsx src/cli.ts api|worker`), background work on pg-boss jobs. The emulator, in this
 * process, impersonates Microsoft (MICROSOFT_LOGIN_URL / MICROSOFT_GRAPH_URL). 50 mailboxes are connected through
 * the hosted connect flow; 2,000 messages are submitted through both API processes; one worker is killed with SIGKILL
 * while it holds claimed messages; every access token is made to expire at Microsoft mid-run. Then:
 * - every message is sent, and delivered exactly once (the emulator's transport log);
 * - Microsoft's pacing held per mailbox: the emulator never had to refuse a request for concurrency (4) or the
 *   per-minute sending limit, and no 60 s window of a mailbox's deliveries holds more than the limit;
 * - no refresh token was redeemed twice, and each mailbox refreshed once after its token expired.
 *
 * Limits: Microsoft's own on both sides (4 concurrent requests, 30 messages a minute per mailbox), not lowered: 40
 * messages a mailbox already take two sending windows, so the per-minute limit binds and the run takes about 1.5
 * minutes of sending. What is shortened is the service's lease (MAILBRIDGE_OUTBOX_LEASE=45s, default 2 minutes), so
 * the killed worker's claimed messages come back within the run.
 *
 * Expiring the tokens: the emulator's clock runs 100 minutes behind real time while mailboxes connect (id_tokens
 * live 4 hours here so openid-client, on real time, accepts them), and is then set to real time: every access token
 * (60 minutes) has expired at Microsoft while the service, on its own clock, still holds it valid. The next Graph
 * request of each mailbox gets 401, and the forced refreshes of all senders of that mailbox, in every worker, must
 * come down to one.
 *
 * Every mailbox connects with the `warmup` profile (Mail.ReadWrite): a send cut by the SIGKILL after its request left
 * is then resolved by looking for its Message-ID in Sent Items, so "exactly once" is checkable for every message
 * (send-only accounts would end such a message `outcome_unknown`: at most once, by design).
 */

const APIS = 2;
const WORKERS = 3;
const MAILBOXES = 50;
const MESSAGES = 2_000;
const PER_MINUTE = 30;
const CONCURRENCY = 4;
const CLOCK_BEHIND_MS = 100 * 60_000;
/** When to kill: deliveries so far (sending well under way) and the victim holding claimed messages. */
const KILL_AFTER_DELIVERIES = 300;
/** When to expire every access token: after the kill, with every mailbox still holding queued messages. */
const EXPIRE_AFTER_DELIVERIES = 700;

interface Submission {
  n: number;
  tag: string;
  accountId: string;
  /** Which API process answered 202. */
  via: number | undefined;
  id: string | undefined;
  internetMessageId: string | undefined;
  retries: number;
}

describe('acceptance: scale-out, 2 api + 3 worker processes on PostgreSQL, SIGKILL, token expiry', () => {
  let world: AcceptanceWorld;
  const apis: ServiceProcess[] = [];
  const workers: ServiceProcess[] = [];
  const accounts: string[] = [];
  const userIds = new Set<string>();
  let reader: DatabaseHandle | undefined;
  let setupMs = 0;

  before(async () => {
    const started = performance.now();
    world = await AcceptanceWorld.start({
      dialect: 'postgres',
      command: 'api',
      env: { MAILBRIDGE_OUTBOX_LEASE: '45s' },
      emulatorSettings: {
        idTokenLifetimeSeconds: 4 * 3600,
        accessTokenLifetimeSeconds: { min: 3600, max: 3600 },
      },
    });
    // Behind real time until the storm (see the module comment).
    world.ctx.clock.set(Date.now() - CLOCK_BEHIND_MS);
    apis.push(world.service);
    // More API processes: same database and PUBLIC_URL (as behind a load balancer), each its own port.
    for (let i = 1; i < APIS; i++) {
      const apiPort = await freePort();
      apis.push(new ServiceProcess({ ...world.service.env, PORT: String(apiPort) }, apiPort, 'api'));
    }
    for (let i = 0; i < WORKERS; i++) {
      const opsPort = await freePort();
      workers.push(
        new ServiceProcess(
          { ...world.service.env, PORT: String(await freePort()), MAILBRIDGE_OPS_PORT: String(opsPort) },
          opsPort,
          'worker',
        ),
      );
    }
    await Promise.all([...apis.slice(1), ...workers].map((process) => process.start(90_000)));

    const emails = Array.from({ length: MAILBOXES }, (_, i) =>
      i % 5 === 4 ? `sender${i}.acme@outlook.com` : `sender${i}@contoso.com`,
    );
    for (const [i, email] of emails.entries()) userIds.add(world.createMailbox(email, `Sender ${i}`).id);
    // Five at a time through the hosted flow (session page, Microsoft's sign-in and consent, our callback).
    for (let start = 0; start < MAILBOXES; start += 5) {
      const batch = emails.slice(start, start + 5);
      accounts.push(
        ...(await Promise.all(
          batch.map((email, k) => world.connect(email, { ownerId: `recruiter-${start + k}`, profile: 'warmup' })),
        )),
      );
    }
    reader = await world.openDatabaseForReading();
    setupMs = Math.round(performance.now() - started);
  });

  after(async () => {
    await reader?.close();
    await Promise.all([...apis.slice(1), ...workers].map((process) => process.stop()));
    await world?.close();
  });

  const submissions: Submission[] = [];
  const kill = { pid: 0, atDeliveries: 0, stranded: 0, atMs: 0 };
  const storm = { atDeliveries: 0, atMs: 0, emulatorAt: 0 };
  let sentMs = 0;
  let acceptedMs = 0;
  let phaseStarted = 0;

  it('2,000 messages accepted through both APIs while a worker is killed and every token expires', async () => {
    // Half of Graph's answers come late, so a mailbox's sends overlap and its concurrency limit has work to do.
    addFault(world.ctx, { kind: 'latency', target: 'graph', probability: 0.5, latencyMs: 150 });
    const started = performance.now();
    const deliveries = () => world.ctx.world.deliveries.length;
    for (let n = 0; n < MESSAGES; n++) {
      submissions.push({
        n,
        tag: `SO-${String(n).padStart(4, '0')}`,
        accountId: accounts[n % MAILBOXES]!,
        via: undefined,
        id: undefined,
        internetMessageId: undefined,
        retries: 0,
      });
    }

    // The host product: 16 requests at a time, alternating between the two API processes.
    const submitAll = async () => {
      let next = 0;
      const submitter = async () => {
        while (next < submissions.length) await submitUntilAnswered(apis, world.apiKey, submissions[next++]!);
      };
      await Promise.all(Array.from({ length: 16 }, submitter));
      acceptedMs = Math.round(performance.now() - started);
    };

    const killThenExpire = async () => {
      const victim = workers[0]!;
      kill.pid = victim.pid ?? 0;
      const prefix = processLeaseOwnerPrefix(kill.pid);
      const heldByVictim = async () => {
        const row = await reader!.db
          .selectFrom('outbox_messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'sending')
          .where('lease_owner', 'like', `${prefix}%`)
          .executeTakeFirstOrThrow();
        return Number(row.n);
      };
      await waitFor(
        'the victim worker holding claimed messages mid-run',
        async () => (deliveries() >= KILL_AFTER_DELIVERIES && (await heldByVictim()) > 0 ? true : undefined),
        { timeoutMs: 90_000, intervalMs: 20, describe: () => `${deliveries()} deliveries\n${victim.tail(20)}` },
      );
      await victim.kill();
      kill.atDeliveries = deliveries();
      kill.atMs = Math.round(performance.now() - started);
      kill.stranded = await heldByVictim();

      await waitFor(
        'deliveries before the token expiry',
        () => (deliveries() >= EXPIRE_AFTER_DELIVERIES ? true : undefined),
        {
          timeoutMs: 90_000,
          intervalMs: 20,
        },
      );
      world.ctx.clock.set(Date.now());
      storm.emulatorAt = world.ctx.clock.now();
      storm.atDeliveries = deliveries();
      storm.atMs = Math.round(performance.now() - started);
    };

    await Promise.all([submitAll(), killThenExpire()]);
    assert.ok(
      submissions.every((each) => each.id !== undefined),
      'every submission was answered',
    );
    assert.equal(new Set(submissions.map((each) => each.id)).size, MESSAGES, 'one message per submission');
    phaseStarted = started;
  });

  it('every message is sent (the killed worker’s messages after their lease)', async () => {
    const deliveries = () => world.ctx.world.deliveries.length;
    await waitFor(
      'every message sent',
      async () => {
        const counts = await statusCounts(reader!);
        return counts['sent'] === MESSAGES ? true : undefined;
      },
      {
        timeoutMs: 150_000,
        intervalMs: 1_000,
        describe: async () =>
          `${JSON.stringify(await statusCounts(reader!))}, ${deliveries()} deliveries\n` +
          workers.map((worker) => worker.tail(10)).join('\n'),
      },
    );
    sentMs = Math.round(performance.now() - phaseStarted);
  });

  it("every message was delivered exactly once (the emulator's transport log)", () => {
    const byMessageId = new Map<string, DeliveryRecord[]>();
    for (const delivery of world.ctx.world.deliveries) {
      byMessageId.set(delivery.internetMessageId, [...(byMessageId.get(delivery.internetMessageId) ?? []), delivery]);
    }
    const known = new Set(submissions.map((each) => each.internetMessageId));
    const unexplained = world.ctx.world.deliveries.filter((delivery) => !known.has(delivery.internetMessageId));
    assert.deepEqual(unexplained, [], 'no delivery that no accepted message explains');
    const notOnce = submissions
      .map((each) => ({ tag: each.tag, count: byMessageId.get(each.internetMessageId ?? '')?.length ?? 0 }))
      .filter((each) => each.count !== 1);
    assert.deepEqual(notOnce, [], 'each message delivered exactly once');
    assert.equal(world.ctx.world.deliveries.length, MESSAGES);
  });

  it('pacing held per mailbox: no request refused for concurrency or the per-minute limit', () => {
    const usages = Object.values(world.ctx.usage).filter((usage) => userIds.has(usage.userId));
    assert.equal(usages.length, MAILBOXES, 'every mailbox was used');
    for (const usage of usages) {
      assert.deepEqual(
        { concurrency: usage.throttled.concurrency, perMinute: usage.throttled.messagesPerMinute },
        { concurrency: 0, perMinute: 0 },
        `mailbox ${usage.userId} was refused`,
      );
      assert.ok(usage.maxInFlight <= CONCURRENCY, `${usage.maxInFlight} requests in flight at once`);
    }
    assert.ok(
      usages.some((usage) => usage.maxInFlight > 1),
      'the mailboxes had several requests in flight: the concurrency limit was under pressure',
    );
    // Independently of the emulator's counters: no 60 s of a mailbox's deliveries (emulator clock) holds more than
    // the limit.
    for (const userId of userIds) {
      const times = world.ctx.world.deliveries
        .filter((delivery) => delivery.senderUserId === userId)
        .map((delivery) => delivery.at)
        .sort((a, b) => a - b);
      assert.ok(maxInWindow(times, 60_000) <= PER_MINUTE, `mailbox ${userId}: ${maxInWindow(times, 60_000)} in 60 s`);
    }
  });

  it('no refresh token was redeemed twice; each mailbox refreshed once after its token expired', () => {
    const records = Object.values(world.ctx.world.refreshTokens).filter((record) => userIds.has(record.userId));
    const twice = records.filter((record) => (record.redemptions ?? 0) > 1);
    assert.deepEqual(
      twice.map((record) => ({ userId: record.userId, redemptions: record.redemptions })),
      [],
      'a refresh token redeemed more than once',
    );
    const sentAfterStorm = new Set(
      world.ctx.world.deliveries
        .filter((delivery) => delivery.at >= storm.emulatorAt && delivery.senderUserId !== null)
        .map((delivery) => delivery.senderUserId),
    );
    // Every mailbox still had mail queued when its token expired, so each had to refresh, and exactly once.
    assert.equal(sentAfterStorm.size, userIds.size, 'every mailbox sent after the tokens expired');
    for (const userId of userIds) {
      const refreshedAfter = records.filter(
        (record) => record.userId === userId && record.issuedAt >= storm.emulatorAt,
      ).length;
      assert.equal(refreshedAfter, 1, `mailbox ${userId} refreshed ${refreshedAfter}×`);
    }
  });

  it('the kill cut work in flight, and every process took part', async (t) => {
    assert.ok(kill.stranded > 0, 'the victim held claimed messages when it was killed');
    const attempts = await reader!.db
      .selectFrom('outbox_attempts')
      .select(['worker_id', 'outcome', 'detail'])
      .execute();
    const recovered = attempts.filter((row) => (row.detail ?? '').includes('lease expired')).length;
    assert.ok(recovered > 0, 'attempts the killed worker left open were closed by the recovery');
    const pids = new Set(attempts.map((row) => row.worker_id.split(':')[1]));
    const workerPids = new Set(workers.flatMap((worker) => worker.runs.map((run) => String(run.pid))));
    assert.deepEqual(
      [...pids].filter((pid) => !workerPids.has(pid ?? '')),
      [],
      'only worker processes sent',
    );
    assert.equal(pids.size, WORKERS, 'all three workers sent');
    const viaApi = [0, 1].map((index) => submissions.filter((each) => each.via === index).length);
    assert.ok(
      viaApi.every((count) => count > 0),
      `both API processes accepted messages: ${viaApi}`,
    );

    const refreshes = Object.values(world.ctx.world.refreshTokens).filter(
      (record) => userIds.has(record.userId) && record.issuedAt >= storm.emulatorAt,
    ).length;
    const tokenRequests = world.ctx.requestLog.filter(
      (entry) => entry.path.includes('/oauth2/v2.0/token') && entry.at >= storm.emulatorAt,
    ).length;
    const usages = Object.values(world.ctx.usage).filter((usage) => userIds.has(usage.userId));
    const retried = submissions.filter((each) => each.retries > 0).length;
    const outcomes = JSON.stringify(countBy(attempts.map((row) => row.outcome)));
    t.diagnostic(
      `setup ${setupMs} ms (5 processes, ${MAILBOXES} connects); accepted ${MESSAGES} in ${acceptedMs} ms ` +
        `(api 1: ${viaApi[0]}, api 2: ${viaApi[1]}, retried ${retried}); all sent ${sentMs} ms after submitting began`,
    );
    t.diagnostic(
      `kill: worker pid ${kill.pid} at ${kill.atMs} ms, ${kill.atDeliveries} deliveries, holding ${kill.stranded} ` +
        `claimed messages; ${recovered} attempts closed by recovery; attempt outcomes ${outcomes}`,
    );
    t.diagnostic(
      `token expiry at ${storm.atMs} ms (${storm.atDeliveries} deliveries): ${refreshes} refreshes for ` +
        `${MAILBOXES} mailboxes, ${tokenRequests} token requests; max redemptions of one refresh token ` +
        `${Math.max(...Object.values(world.ctx.world.refreshTokens).map((record) => record.redemptions ?? 0))}`,
    );
    t.diagnostic(
      `pacing: max in flight per mailbox ${Math.max(...usages.map((usage) => usage.maxInFlight))}, max per 60 s ` +
        `${Math.max(
          ...[...userIds].map((userId) =>
            maxInWindow(
              world.ctx.world.deliveries
                .filter((d) => d.senderUserId === userId)
                .map((d) => d.at)
                .sort((a, b) => a - b),
              60_000,
            ),
          ),
        )}, ` +
        `429s for concurrency ${usages.reduce((sum, usage) => sum + usage.throttled.concurrency, 0)}, per minute ` +
        `${usages.reduce((sum, usage) => sum + usage.throttled.messagesPerMinute, 0)}`,
    );
  });
});

/** Submits through the API processes in turn, retrying with its Idempotency-Key until one answers. */
async function submitUntilAnswered(apis: ServiceProcess[], apiKey: string, submission: Submission): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 0; ; attempt++) {
    const via = (submission.n + attempt) % apis.length;
    const api = apis[via]!;
    try {
      const response = await fetch(`${api.url}/v1/accounts/${submission.accountId}/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': submission.tag,
        },
        body: JSON.stringify({
          to: { address: `candidate-${submission.n}@example.net`, name: `Candidate ${submission.n}` },
          subject: `Following up [${submission.tag}]`,
          text: `Hello candidate ${submission.n}, following up on our call.`,
        }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { id?: string; internetMessageId?: string };
      if (response.status === 202 || response.status === 200) {
        submission.id = body.id;
        submission.internetMessageId = body.internetMessageId;
        submission.via = via;
        return;
      }
      if (response.status < 500) assert.fail(`${submission.tag} refused: ${response.status} ${JSON.stringify(body)}`);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      // The connection failed or the answer was lost: the key makes the retry the same message.
    }
    submission.retries++;
    if (Date.now() > deadline) assert.fail(`${submission.tag} never answered`);
    await sleep(100);
  }
}

async function statusCounts(reader: DatabaseHandle): Promise<Record<string, number>> {
  const rows = await reader.db
    .selectFrom('outbox_messages')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}

/** The most timestamps inside any window of `windowMs` (sorted input). */
function maxInWindow(times: number[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) out[value] = (out[value] ?? 0) + 1;
  return out;
}
