import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addFault } from '../../../emulator/control/actions.js';
import type { DeliveryRecord } from '../../../emulator/state/model.js';
import type { DbDialect } from '../../../src/db/schema.js';
import { waitFor } from '../../support/wait.js';
import { AcceptanceWorld, type ApiAnswer } from './acceptance-world.js';

/**
 * Issue 4, "Done when" 1: a burst of 1,000 messages over 20 mailboxes against the emulator with injected 429 bursts
 * (fractional Retry-After), 503s, latency, dropped connections and sends that are accepted but never answered,
 * while mailbridge (a separate process) is killed with SIGKILL twice mid-burst and started again with the same
 * environment. Then, from the emulator's transport log (what Microsoft would have delivered) and the API:
 * - zero lost: every message the API ever accepted is listed, and nothing else is;
 * - every message is terminal: `sent` with exactly one delivery, or `outcome_unknown` (send-only accounts only,
 *   after a request whose answer never came: at most once, so zero or one delivery), or `failed` with a reason and
 *   no delivery;
 * - zero duplicated: no Message-ID and no subject tag delivered twice; warmup accounts (draft + lookup) end `sent`.
 * Submissions use an Idempotency-Key and are retried when the service is down or the answer was lost, as a host
 * product would; the key must make each of them one message.
 */

const MAILBOXES = 20;
const MESSAGES = 1_000;
/**
 * When to kill: the first run while the host is still submitting (requests in flight are cut; the host retries them
 * with their Idempotency-Key), the second once the restarted run has sent 50. Both early, so the leases of the
 * messages they strand run out while the rest of the burst is still going.
 */
const KILLS = [
  { when: 'mid-submission', accepted: 350, deliveriesSinceStart: 0 },
  { when: 'mid-sending', accepted: 0, deliveriesSinceStart: 50 },
] as const;
const TERMINAL = new Set(['sent', 'failed', 'outcome_unknown', 'canceled']);

interface Mailbox {
  email: string;
  profile: 'send' | 'warmup';
  accountId: string;
}

interface Submission {
  tag: string;
  mailbox: Mailbox;
  id: string | undefined;
  internetMessageId: string | undefined;
  /** Tries that failed (service down, connection cut, 5xx) before an answer came. */
  retries: number;
  /** 202 (created) or 200 (the same key answered again with the message it had made). */
  answeredWith: number | undefined;
}

interface KillRecord {
  when: string;
  atDeliveries: number;
  accepted: number;
  /** Messages the killed process left in `sending` (read from the database while it was down). */
  strandedSending: number;
  restartMs: number;
}

const tagOf = (n: number) => `AT-${String(n).padStart(4, '0')}`;
const tagInSubject = (subject: string) => /\[(AT-\d{4})\]/.exec(subject)?.[1];

export function describeBurstWithKills(dialect: DbDialect): void {
  describe(`acceptance: 1,000 messages, 20 mailboxes, faults and two SIGKILLs [${dialect}]`, () => {
    let world: AcceptanceWorld;
    const mailboxes: Mailbox[] = [];

    before(async () => {
      world = await AcceptanceWorld.start({
        dialect,
        // Pacing is the other test's subject: here both sides allow 600 messages a minute per mailbox, so 1,000
        // messages fit in seconds. Concurrency stays Microsoft's 4 on both sides.
        // The shortest lease the service allows (default 2 minutes): how long the messages a killed process held
        // wait before another run takes them over.
        env: { MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE: '600', MAILBRIDGE_OUTBOX_LEASE: '45s' },
        emulatorSettings: {
          limits: {
            exchange: { messagesPerMinute: 600, recipientsPer24h: 10_000, recipientsPerMessage: 500 },
            outlook: { messagesPerMinute: 600, recipientsPer24h: 5_000, recipientsPerMessage: 500 },
          },
        },
      });
      // 20 mailboxes: work accounts in Contoso and personal Outlook.com accounts; half of each with the warmup
      // profile (Mail.ReadWrite: draft + Message-ID lookup), half send-only (sendMail).
      for (let i = 0; i < MAILBOXES; i++) {
        const email = i % 2 === 0 ? `sender${i}@contoso.com` : `sender${i}.acme@outlook.com`;
        world.createMailbox(email, `Sender ${i}`);
        const profile = i % 4 < 2 ? 'warmup' : 'send';
        const accountId = await world.connect(email, { ownerId: `recruiter-${i}`, profile });
        mailboxes.push({ email, profile, accountId });
      }
    });
    after(async () => {
      await world?.close();
    });

    const submissions: Submission[] = [];
    const kills: KillRecord[] = [];
    // biome-ignore lint/suspicious/noExplicitAny: message views are checked field by field.
    let views: any[] = [];
    let started = 0;
    let acceptedMs = 0;
    let settledMs = 0;

    it('a host submits 1,000 messages while the service is killed twice; each submission is answered with one message', async () => {
      started = performance.now();
      injectFaults(world, mailboxes);
      for (let n = 0; n < MESSAGES; n++) {
        submissions.push({
          tag: tagOf(n),
          mailbox: mailboxes[n % MAILBOXES]!,
          id: undefined,
          internetMessageId: undefined,
          retries: 0,
          answeredWith: undefined,
        });
      }
      const deliveriesSoFar = () => world.ctx.world.deliveries.length;
      const acceptedSoFar = () => submissions.filter((each) => each.id !== undefined).length;

      // The host product: 8 requests at a time, each retried with its Idempotency-Key until it gets an answer.
      const submitAll = async () => {
        let next = 0;
        const worker = async () => {
          while (next < submissions.length) {
            const submission = submissions[next++]!;
            await submitUntilAnswered(world, submission);
          }
        };
        await Promise.all(Array.from({ length: 8 }, worker));
      };

      // The operator's bad day: SIGKILL, then start it again at once with the same environment.
      const killTwice = async () => {
        let deliveriesAtStart = deliveriesSoFar();
        for (const kill of KILLS) {
          await waitFor(
            `the moment to kill ${kill.when}`,
            () =>
              acceptedSoFar() >= kill.accepted && deliveriesSoFar() - deliveriesAtStart >= kill.deliveriesSinceStart
                ? true
                : undefined,
            {
              timeoutMs: 120_000,
              intervalMs: 2,
              describe: () => `${deliveriesSoFar()} deliveries, ${acceptedSoFar()} accepted\n${world.service.tail(15)}`,
            },
          );
          const atDeliveries = deliveriesSoFar();
          const killedPid = world.service.pid;
          await world.service.kill();
          const accepted = acceptedSoFar();
          const strandedSending = await countSendingHeldBy(world, killedPid);
          const run = await world.service.start();
          deliveriesAtStart = deliveriesSoFar();
          kills.push({ when: kill.when, atDeliveries, accepted, strandedSending, restartMs: run.startMs });
        }
      };

      await Promise.all([submitAll(), killTwice()]);
      acceptedMs = Math.round(performance.now() - started);

      assert.equal(kills.length, 2);
      assert.ok(
        submissions.every((each) => each.id !== undefined),
        'every submission was eventually answered',
      );
      const acceptedIds = new Set(submissions.map((each) => each.id));
      assert.equal(acceptedIds.size, MESSAGES, 'each submission (one Idempotency-Key) is one message');
    });

    it('every message reaches a terminal state', async () => {
      // Messages a killed process held in `sending` come back when their lease (45 s) runs out; those whose
      // request may have left are looked up first (warmup) or end outcome_unknown (send-only).
      views = await waitFor(
        'every message terminal',
        async () => {
          const all = await world.listMessages();
          return all.length >= MESSAGES && all.every((view) => TERMINAL.has(view.status)) ? all : undefined;
        },
        {
          timeoutMs: 170_000,
          intervalMs: 2_000,
          describe: async () => {
            const all = await world.listMessages().catch(() => []);
            const counts = countBy(all.map((view) => view.status));
            return `${all.length} listed, ${JSON.stringify(counts)}\n${world.service.tail(15)}`;
          },
        },
      );
      settledMs = Math.round(performance.now() - started);
    });

    it('zero lost: the API lists exactly the accepted messages', () => {
      const acceptedIds = new Set(submissions.map((each) => each.id));
      assert.equal(views.length, MESSAGES, 'the API lists exactly the accepted messages');
      for (const view of views) assert.ok(acceptedIds.has(view.id), `listed message ${view.id} was never accepted`);
    });

    it("zero duplicated, and each message's state agrees with the emulator's delivery log", () => {
      const byMessageId = groupBy(world.ctx.world.deliveries, (delivery) => delivery.internetMessageId);
      const byTag = groupBy(world.ctx.world.deliveries, (delivery) => tagInSubject(delivery.subject) ?? '?');
      const known = new Set(submissions.map((each) => each.internetMessageId));
      for (const delivery of world.ctx.world.deliveries) {
        assert.ok(
          known.has(delivery.internetMessageId),
          `a delivery no accepted message explains: ${delivery.subject}`,
        );
      }
      const duplicated = [...byMessageId.entries()].filter(([, list]) => list.length > 1).map(([id]) => id);
      assert.deepEqual(duplicated, [], 'no Message-ID delivered twice');
      const duplicatedTags = [...byTag.entries()].filter(([, list]) => list.length > 1).map(([tag]) => tag);
      assert.deepEqual(duplicatedTags, [], 'no subject tag delivered twice');

      // No leftover drafts: a draft whose send was refused or cut is deleted before the message is drafted again.
      const leftovers: string[] = [];
      for (const mailbox of mailboxes.filter((each) => each.profile === 'warmup')) {
        const user = Object.values(world.ctx.world.users).find((each) => each.email === mailbox.email);
        const store = user ? world.ctx.world.mailboxes[user.id] : undefined;
        for (const message of Object.values(store?.messages ?? {})) {
          const folder = store?.folders[message.parentFolderId]?.wellKnownName;
          if (message.isDraft && folder === 'drafts' && known.has(message.internetMessageId)) {
            leftovers.push(`${mailbox.email}: ${message.subject}`);
          }
        }
      }
      assert.deepEqual(leftovers, [], "no draft of ours is left in a user's Drafts");

      const viewsById = new Map(views.map((view) => [view.id, view]));
      for (const submission of submissions) {
        const view = viewsById.get(submission.id ?? '');
        assert.ok(view, `accepted message ${submission.tag} (${submission.id}) is listed`);
        const delivered = byMessageId.get(view.internetMessageId)?.length ?? 0;
        switch (view.status) {
          case 'sent':
            assert.equal(delivered, 1, `${submission.tag} is sent and was delivered ${delivered} times`);
            break;
          case 'outcome_unknown':
            assert.equal(
              submission.mailbox.profile,
              'send',
              `${submission.tag}: outcome_unknown on a warmup account (the lookup should have settled it)`,
            );
            assert.equal(view.failure?.reason, 'outcome_unknown');
            assert.ok(delivered <= 1, `${submission.tag}: at most once`);
            break;
          case 'failed':
            assert.ok(view.failure?.reason, `${submission.tag} failed without a reason`);
            assert.equal(delivered, 0, `${submission.tag} failed (${view.failure?.reason}) but was delivered`);
            break;
          default:
            assert.fail(`${submission.tag} ended ${view.status}`);
        }
        if (submission.mailbox.profile === 'warmup') {
          assert.equal(view.status, 'sent', `${submission.tag} (warmup) ended ${view.status}`);
        }
      }
    });

    it('the kills cut work in progress, and the attempt log shows the faults were met', async (t) => {
      const stats = await attemptStats(world);
      assert.ok(
        kills.some((kill) => kill.strandedSending > 0),
        `no kill caught a message in flight: ${JSON.stringify(kills)}`,
      );
      assert.ok(stats.recoveredAfterKill > 0, 'recovery closed the attempts the killed processes left open');
      assert.ok((stats.byHttpStatus['429'] ?? 0) > 0, 'the 429 bursts were met');
      assert.ok((stats.byHttpStatus['503'] ?? 0) > 0, 'the 503s were met');

      // outcome_unknown only after an unknown outcome: each such message's attempt log (GET /v1/messages/{id}) has
      // an attempt whose request left without an answer (a cut connection, or a process killed mid-request).
      const unknown = views.filter((view) => view.status === 'outcome_unknown');
      for (const view of unknown) {
        const detail = await world.api('GET', `/v1/messages/${view.id}`);
        const outcomes = detail.body.attempts.map((attempt: { outcome: string }) => attempt.outcome);
        assert.ok(outcomes.includes('unknown'), `${view.id} is outcome_unknown after attempts ${outcomes.join(', ')}`);
      }

      const outcomes = countBy(
        submissions.map((each) => `${each.mailbox.profile}:${views.find((view) => view.id === each.id)?.status}`),
      );
      t.diagnostic(
        `messages ${MESSAGES} over ${MAILBOXES} mailboxes; outcomes ${JSON.stringify(outcomes)}; ` +
          `deliveries ${world.ctx.world.deliveries.length}`,
      );
      t.diagnostic(`kills ${JSON.stringify(kills)}; runs ${JSON.stringify(world.service.runs)}`);
      t.diagnostic(
        `submissions retried (service down or answer lost): ${submissions.filter((each) => each.retries > 0).length}, ` +
          `${submissions.reduce((sum, each) => sum + each.retries, 0)} retries; answered 200 from the ` +
          `Idempotency-Key: ${submissions.filter((each) => each.answeredWith === 200).length}`,
      );
      t.diagnostic(`attempts ${JSON.stringify(stats)}`);
      t.diagnostic(`all accepted after ${acceptedMs} ms; all terminal after ${settledMs} ms`);
    });
  });
}

function injectFaults(world: AcceptanceWorld, mailboxes: Mailbox[]): void {
  const ctx = world.ctx;
  // The first rule that matches a request applies, so the rare ones come first. Cuts are frequent enough to be used up
  // in the first few hundred requests: each costs its message a 30 s wait before the Sent Items lookup.
  addFault(ctx, { kind: 'timeoutAfterAccept', target: 'send', probability: 0.03, count: 6 });
  addFault(ctx, { kind: 'drop', target: 'graph', probability: 0.03, count: 6 });
  // 429 bursts: a few mailboxes get several 429s in a row, with fractional Retry-After.
  for (const [index, retryAfterSeconds] of [
    [1, 0.4],
    [2, 1.25],
    [7, 0.75],
    [12, 2.5],
  ] as const) {
    addFault(ctx, {
      kind: 'throttle429',
      target: 'send',
      user: mailboxes[index]!.email,
      retryAfterSeconds,
      count: 6,
    });
  }
  addFault(ctx, { kind: 'throttle429', target: 'graph', probability: 0.03, retryAfterSeconds: 0.75, count: 40 });
  addFault(ctx, { kind: 'unavailable503', target: 'graph', probability: 0.03, retryAfterSeconds: 1.5, count: 30 });
  addFault(ctx, { kind: 'latency', target: 'graph', probability: 0.15, latencyMs: 250 });
}

async function submitUntilAnswered(world: AcceptanceWorld, submission: Submission): Promise<void> {
  const n = Number(submission.tag.slice(3));
  const body = {
    to: { address: `candidate-${n}@example.net`, name: `Candidate ${n}` },
    subject: `Following up [${submission.tag}]`,
    text: `Hello candidate ${n}, following up on our call.`,
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    let answer: ApiAnswer | undefined;
    try {
      answer = await world.api('POST', `/v1/accounts/${submission.mailbox.accountId}/messages`, body, {
        'idempotency-key': submission.tag,
      });
    } catch {
      // The service is down or the connection was cut: the request may or may not have been committed.
    }
    if (answer && (answer.status === 202 || answer.status === 200)) {
      submission.id = answer.body.id;
      submission.internetMessageId = answer.body.internetMessageId;
      submission.answeredWith = answer.status;
      return;
    }
    if (answer && answer.status < 500) {
      assert.fail(`submission ${submission.tag} refused: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    submission.retries += 1;
    if (Date.now() > deadline) assert.fail(`submission ${submission.tag} never answered`);
    await sleep(200);
  }
}

/** Messages left in `sending` under a lease of the killed process (its worker ids are `<host>:<pid>:<random>`). */
async function countSendingHeldBy(world: AcceptanceWorld, pid: number | undefined): Promise<number> {
  const handle = await world.openDatabaseForReading();
  try {
    const rows = await handle.db
      .selectFrom('outbox_messages')
      .select('lease_owner')
      .where('status', '=', 'sending')
      .execute();
    return rows.filter((row) => row.lease_owner?.includes(`:${pid}:`)).length;
  } finally {
    await handle.close();
  }
}

interface AttemptStats {
  attempts: number;
  byOutcome: Record<string, number>;
  byHttpStatus: Record<string, number>;
  /** Attempts closed by recovery after a kill (`unknown` after `started`, `abandoned` after `claimed`). */
  recoveredAfterKill: number;
  maxAttemptsPerMessage: number;
  messagesRetried: number;
  /** The attempt chains of the last messages to finish (outcome, step, HTTP status, seconds after the first claim). */
  lastToFinish: string[];
}

async function attemptStats(world: AcceptanceWorld): Promise<AttemptStats> {
  const handle = await world.openDatabaseForReading();
  try {
    const rows = await handle.db
      .selectFrom('outbox_attempts')
      .select(['message_id', 'number', 'outcome', 'step', 'http_status', 'detail', 'claimed_at', 'finished_at'])
      .orderBy('number')
      .execute();
    const perMessage = countBy(rows.map((row) => row.message_id));
    const firstClaim = Math.min(...rows.map((row) => Number(row.claimed_at)));
    const finishedAt = new Map<string, number>();
    for (const row of rows) {
      finishedAt.set(row.message_id, Math.max(finishedAt.get(row.message_id) ?? 0, Number(row.finished_at ?? 0)));
    }
    const last = [...finishedAt.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    const lastToFinish = last.map(([messageId]) =>
      rows
        .filter((row) => row.message_id === messageId)
        .map(
          (row) =>
            `${row.outcome}/${row.step ?? '-'}/${row.http_status ?? '-'}@${Math.round((Number(row.claimed_at) - firstClaim) / 1000)}s`,
        )
        .join(' → '),
    );
    return {
      attempts: rows.length,
      byOutcome: countBy(rows.map((row) => row.outcome)),
      byHttpStatus: countBy(rows.filter((row) => row.http_status !== null).map((row) => String(row.http_status))),
      recoveredAfterKill: rows.filter((row) => (row.detail ?? '').includes('lease expired')).length,
      maxAttemptsPerMessage: Math.max(0, ...Object.values(perMessage)),
      messagesRetried: Object.values(perMessage).filter((count) => count > 1).length,
      lastToFinish,
    };
  } finally {
    await handle.close();
  }
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) out[value] = (out[value] ?? 0) + 1;
  return out;
}

function groupBy(deliveries: DeliveryRecord[], key: (delivery: DeliveryRecord) => string) {
  const out = new Map<string, DeliveryRecord[]>();
  for (const delivery of deliveries) {
    const k = key(delivery);
    out.set(k, [...(out.get(k) ?? []), delivery]);
  }
  return out;
}
