import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFault, createUser } from '../../emulator/control/actions.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { type BackgroundWork, startBackgroundWork } from '../../src/worker/background-work.js';
import { type ApiClient, createApiClient } from '../api/api-test-support.js';
import { Browser, connectThroughMicrosoft, outcomeStatus } from '../connect/connect-test-kit.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { AcceleratedClock } from './support/accelerated-clock.js';

/**
 * Issue 4, "Done when" 2: 1,000 messages queued for one mailbox while five other mailboxes send a few each. With
 * Microsoft's own numbers on both sides (4 concurrent requests and 30 messages a minute per mailbox, the service's
 * defaults and the emulator's), the emulator records no violation for that mailbox, and the other mailboxes' messages
 * all go out before the 100th message of the big one (by sent time).
 *
 * Why in-process: 1,000 messages at 30 a minute are 33 minutes of real time. The service has no clock to inject
 * when it runs as a separate process, and lowering its per-minute setting would test another configuration than
 * Microsoft's (the setting counts per minute; it has no window to scale). So the service runs in this process on the
 * emulator's clock, and that one clock runs 60 times faster than real time once the messages are queued: both sides
 * count their windows on it, exactly as both would on real time. The background work is what `mailbridge start`
 * runs on SQLite (the in-process loop, nudged by accepted messages), with its 5-second tick scaled by the same 60
 * so it keeps the same cadence on the clock it sees. Everything else is real: HTTP between the service and the
 * emulator, the SQLite file, the API. (On PostgreSQL the work runs as pg-boss jobs scheduled on the database's own
 * clock, which cannot be accelerated: test/acceptance/scale-out.test.ts runs that path under Microsoft's limits in
 * real time.)
 */

const BIG = 'bulk.sender@contoso.com';
const OTHERS = [
  'other1@contoso.com',
  'other2@contoso.com',
  'other3.acme@outlook.com',
  'other4@contoso.com',
  'other5.acme@outlook.com',
];
const BIG_MESSAGES = 1_000;
const PER_OTHER = 3;
const RATE = 60;

describe('acceptance: pacing and fairness under Microsoft limits [sqlite, 60× clock]', () => {
  let clock: AcceleratedClock;
  let emulator: SeededEmulator;
  let service: TestService;
  let client: ApiClient;
  let loop: BackgroundWork | undefined;
  const accounts = new Map<string, string>();

  before(async () => {
    // Ten minutes behind real time, as the outbox kit does: id_tokens the emulator signs are never "from the
    // future" for openid-client while the clock still runs at real speed (the connects happen then).
    clock = new AcceleratedClock(Date.now() - 10 * 60_000);
    emulator = await startSeededEmulator({
      clock,
      urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN },
      redirectUris: [],
    });
    service = await startTestService({
      dialect: 'sqlite',
      sharedEmulator: emulator,
      clock: { now: () => clock.now() },
      // The lease is counted on the accelerated clock while a Graph request's timeout (30 s) is real time: the longest
      // lease allowed, 30 clock minutes, is 30 real seconds at 60×, so a lease still covers the slowest request here
      // (the emulator answers within milliseconds), as the default 2 minutes cover 30 s at real speed.
      env: { LOG_LEVEL: 'warn', MAILBRIDGE_OUTBOX_LEASE: '30m' },
    });
    emulator.seed.app.redirectUris.push(
      `${service.url}/connect/callback`,
      `${service.url}/connect/admin-consent/callback`,
    );
    client = await createApiClient(service, 'Acme Recruiting', ['https://app.example.com/mailbridge']);
    for (const email of [BIG, ...OTHERS]) {
      createUser(emulator.ctx, { email, password: DEMO_PASSWORD, displayName: email.split('@')[0] });
      const created = await client.call('POST', '/v1/connect-sessions', {
        ownerId: `owner-${email}`,
        // The big mailbox sends through drafts (two Graph requests per message); the others mix both paths.
        permissionProfile: email === BIG || email.startsWith('other2') ? 'warmup' : 'send',
        returnUrl: 'https://app.example.com/mailbridge/done',
        loginHint: email,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { page } = await connectThroughMicrosoft(service, new Browser(), created.body.id, { email });
      assert.equal(outcomeStatus(page.html), 'connected');
      const account = await service.deps.db
        .selectFrom('accounts')
        .select('id')
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      accounts.set(email, account.id);
    }
  });
  after(async () => {
    await loop?.stop();
    await service?.close();
    await emulator?.close();
  });

  it('no concurrency or per-minute violation for the big mailbox; the others are not delayed by it', async (t) => {
    const bigAccount = accounts.get(BIG)!;
    // Some latency so the big mailbox's requests overlap (concurrency has something to bound).
    addFault(emulator.ctx, { kind: 'latency', target: 'graph', user: BIG, probability: 0.3, latencyMs: 40 });

    const bigIds: string[] = [];
    for (let start = 0; start < BIG_MESSAGES; start += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, BIG_MESSAGES - start) }, (_, k) =>
          client.call('POST', `/v1/accounts/${bigAccount}/messages`, {
            to: `lead-${start + k}@example.net`,
            subject: `Newsletter [BIG-${start + k}]`,
            text: 'Our monthly news.',
          }),
        ),
      );
      for (const answer of batch) {
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        bigIds.push(answer.body.id);
      }
    }

    clock.setRate(RATE);
    const realStart = performance.now();
    const clockStart = clock.now();
    loop = startBackgroundWork(service.deps, { intervalMs: 5_000 / RATE });

    const bigUserId = Object.values(emulator.ctx.world.users).find((user) => user.email === BIG)!.id;
    const bigDeliveries = () => emulator.ctx.world.deliveries.filter((d) => d.senderUserId === bigUserId);
    await waitFor('the big mailbox sending', () => (bigDeliveries().length >= 5 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    const bigSentBeforeOthers = bigDeliveries().length;

    // Now the other mailboxes each send a few.
    const otherIds: string[] = [];
    for (const email of OTHERS) {
      for (let k = 0; k < PER_OTHER; k++) {
        const answer = await client.call('POST', `/v1/accounts/${accounts.get(email)}/messages`, {
          to: `someone-${k}@example.net`,
          subject: `Quick question [${email.split('@')[0]}-${k}]`,
          text: 'Do you have a minute?',
        });
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        otherIds.push(answer.body.id);
      }
    }

    const statusOf = async (ids: string[]) => {
      const rows = await service.deps.db
        .selectFrom('outbox_messages')
        .select(['id', 'status', 'sent_at', 'internet_message_id'])
        .where('id', 'in', ids)
        .execute();
      return rows;
    };
    await waitFor(
      'all messages sent',
      async () => {
        const rows = await service.deps.db
          .selectFrom('outbox_messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '!=', 'sent')
          .executeTakeFirstOrThrow();
        return Number(rows.n) === 0 ? true : undefined;
      },
      {
        timeoutMs: 150_000,
        intervalMs: 500,
        describe: async () => {
          const rows = await service.deps.db
            .selectFrom('outbox_messages')
            .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('status')
            .execute();
          return JSON.stringify(rows);
        },
      },
    );
    const realMs = Math.round(performance.now() - realStart);
    const clockMinutes = (clock.now() - clockStart) / 60_000;

    // --- The emulator's own account of the big mailbox (app + mailbox pair).
    const usage = emulator.ctx.usage[`${emulator.seed.app.clientId}|${bigUserId}`];
    assert.ok(usage, 'the emulator saw the big mailbox');
    assert.equal(usage.throttled.concurrency, 0, 'no request over the 4-concurrent limit');
    assert.equal(usage.throttled.messagesPerMinute, 0, 'no send over 30 per minute');
    assert.equal(usage.throttled.requestRate, 0);
    assert.ok(usage.maxInFlight <= 4, `at most 4 requests in flight (saw ${usage.maxInFlight})`);
    // …and the limits were really pressed against, or the two checks above would prove nothing.
    assert.ok(usage.maxInFlight >= 2, `requests overlapped (saw at most ${usage.maxInFlight} in flight)`);

    // The same from the transport log, independently: no 60-second window (emulator clock) holds more than 30.
    const times = bigDeliveries()
      .map((delivery) => delivery.at)
      .sort((a, b) => a - b);
    assert.equal(times.length, BIG_MESSAGES, 'each big message delivered once');
    let busiestMinute = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 60_000) j++;
      busiestMinute = Math.max(busiestMinute, i - j + 1);
    }
    assert.ok(busiestMinute <= 30, `${busiestMinute} sends in one minute`);
    assert.ok(busiestMinute >= 20, `the per-minute budget was nearly used (busiest minute ${busiestMinute})`);

    // --- Fairness: every other mailbox's message went out before the big mailbox's 100th (by sent time).
    const big = (await statusOf(bigIds)).map((row) => Number(row.sent_at)).sort((a, b) => a - b);
    const hundredth = big[99]!;
    const others = await statusOf(otherIds);
    assert.equal(others.length, OTHERS.length * PER_OTHER);
    for (const row of others) {
      assert.equal(row.status, 'sent');
      assert.ok(
        Number(row.sent_at) < hundredth,
        `${row.id} sent ${(Number(row.sent_at) - hundredth) / 1000} s (clock) after the big mailbox's 100th`,
      );
      const delivered = emulator.ctx.world.deliveries.filter((d) => d.internetMessageId === row.internet_message_id);
      assert.equal(delivered.length, 1);
    }
    assert.deepEqual(
      service.logLines.filter((line) => line.includes('lease lost')),
      [],
      'no worker lost a lease (the accelerated clock did not outrun a send)',
    );
    const lastOther = Math.max(...others.map((row) => Number(row.sent_at)));
    const bigSentBeforeLastOther = big.filter((at) => at <= lastOther).length;

    t.diagnostic(
      `big mailbox: ${BIG_MESSAGES} sent over ${clockMinutes.toFixed(1)} clock minutes (${realMs} ms real at ${RATE}×); ` +
        `busiest minute ${busiestMinute}; maxInFlight ${usage.maxInFlight}; throttled ${JSON.stringify(usage.throttled)}`,
    );
    t.diagnostic(
      `others: ${others.length} messages queued after the big mailbox's ${bigSentBeforeOthers}th send, all sent by ` +
        `its ${bigSentBeforeLastOther}th`,
    );
  });
});
