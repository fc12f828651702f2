import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FaultRule } from '../../emulator/context.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, MAIL_SCOPES, mintGraphToken } from '../support/graph-token.js';

const OTHER_APP = '0f0e0d0c-0b0a-4909-8807-060504030201';

function fault(partial: Partial<FaultRule> & Pick<FaultRule, 'kind' | 'target'>): FaultRule {
  return {
    id: `fault-${Math.random().toString(16).slice(2)}`,
    userId: null,
    retryAfterSeconds: null,
    latencyMs: null,
    remaining: 1,
    probability: 1,
    ...partial,
  };
}

describe('emulator Graph: limits and injected faults', () => {
  let emulator: SeededEmulator;
  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  const usageOf = (clientId: string, userId: string) => emulator.ctx.usage[`${clientId}|${userId}`];
  const message = (subject: string, recipients: string[]) => ({
    message: { subject, toRecipients: recipients.map((address) => ({ emailAddress: { address } })) },
    saveToSentItems: false,
  });

  it('allows 4 concurrent requests per app + mailbox and answers the rest 429 ApplicationThrottled', async () => {
    const adele = emulator.seed.users.workWithMfa;
    const token = mintGraphToken(emulator.ctx, adele);
    emulator.ctx.faults.push(
      fault({ kind: 'latency', target: 'graph', userId: adele.id, latencyMs: 800, remaining: null }),
    );
    let answers: Awaited<ReturnType<typeof callGraph>>[];
    try {
      answers = await Promise.all(
        Array.from({ length: 6 }, () => callGraph(emulator.url, token, 'GET', '/me/mailFolders/inbox/messages?$top=1')),
      );
    } finally {
      emulator.ctx.faults.length = 0;
    }
    const throttled = answers.filter((answer) => answer.status === 429);
    assert.equal(answers.filter((answer) => answer.status === 200).length, 4);
    assert.equal(throttled.length, 2);
    for (const answer of throttled) {
      assert.equal(errorOf(answer).code, 'ApplicationThrottled');
      assert.equal(errorOf(answer).message, 'Application is over its MailboxConcurrency limit.');
      assert.ok(Number(answer.headers.get('retry-after')) > 0);
    }
    const usage = usageOf(emulator.seed.app.clientId, adele.id)!;
    assert.equal(usage.maxInFlight, 4);
    assert.equal(usage.inFlight, 0);
    assert.equal(usage.throttled.concurrency, 2);
    // Another app has its own budget.
    assert.equal(usageOf(OTHER_APP, adele.id), undefined);
  });

  it('answers 429 over the per-10-minutes request budget until the window moves on', async () => {
    const limits = emulator.ctx.settings.limits;
    const saved = limits.requestsPer10Minutes;
    limits.requestsPer10Minutes = 5;
    const user = emulator.seed.users.workAdmin;
    const token = mintGraphToken(emulator.ctx, user, MAIL_SCOPES, OTHER_APP);
    try {
      for (let i = 0; i < 5; i++) assert.equal((await callGraph(emulator.url, token, 'GET', '/me')).status, 200);
      const over = await callGraph(emulator.url, token, 'GET', '/me');
      assert.equal(over.status, 429);
      assert.equal(errorOf(over).code, 'ApplicationThrottled');
      const retryAfter = Number(over.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 600, String(retryAfter));
      assert.equal(usageOf(OTHER_APP, user.id)?.throttled.requestRate, 1);
      // The demo app's budget for the same mailbox is untouched.
      assert.equal((await callGraph(emulator.url, mintGraphToken(emulator.ctx, user), 'GET', '/me')).status, 200);
      emulator.ctx.clock.advance(retryAfter + 1);
      assert.equal(
        (await callGraph(emulator.url, mintGraphToken(emulator.ctx, user, MAIL_SCOPES, OTHER_APP), 'GET', '/me'))
          .status,
        200,
      );
    } finally {
      limits.requestsPer10Minutes = saved;
    }
  });

  it('opt-in errors (rejectOverLimitSends): messages per minute per mailbox, across apps, 429 with a fractional Retry-After', async () => {
    const exchange = emulator.ctx.settings.limits.exchange;
    const saved = exchange.messagesPerMinute;
    exchange.messagesPerMinute = 3;
    emulator.ctx.settings.limits.rejectOverLimitSends = true;
    const megan = emulator.seed.users.work;
    const appA = mintGraphToken(emulator.ctx, megan);
    const appB = mintGraphToken(emulator.ctx, megan, MAIL_SCOPES, OTHER_APP);
    try {
      emulator.ctx.clock.advance(120);
      const deliveries = emulator.ctx.world.deliveries.length;
      assert.equal(
        (await callGraph(emulator.url, appA, 'POST', '/me/sendMail', message('m1', ['a@example.org']))).status,
        202,
      );
      emulator.ctx.clock.advance(10.5);
      assert.equal(
        (await callGraph(emulator.url, appB, 'POST', '/me/sendMail', message('m2', ['a@example.org']))).status,
        202,
      );
      assert.equal(
        (await callGraph(emulator.url, appA, 'POST', '/me/sendMail', message('m3', ['a@example.org']))).status,
        202,
      );
      const over = await callGraph(emulator.url, appB, 'POST', '/me/sendMail', message('m4', ['a@example.org']));
      assert.equal(over.status, 429);
      assert.equal(errorOf(over).code, 'ErrorSubmissionQuotaExceeded');
      // The oldest send in the window frees its slot 60 s after it was made (the clock runs on between calls).
      const retryAfter = Number(over.headers.get('retry-after'));
      assert.ok(retryAfter > 45 && retryAfter <= 49.5, String(retryAfter));
      assert.equal(emulator.ctx.world.deliveries.length, deliveries + 3);
      assert.equal(usageOf(OTHER_APP, megan.id)?.throttled.messagesPerMinute, 1);
      emulator.ctx.clock.advance(50);
      assert.equal(
        (await callGraph(emulator.url, appB, 'POST', '/me/sendMail', message('m4', ['a@example.org']))).status,
        202,
      );
    } finally {
      exchange.messagesPerMinute = saved;
      emulator.ctx.settings.limits.rejectOverLimitSends = false;
    }
  });

  it('opt-in errors (rejectOverLimitSends): recipients per rolling 24 hours, 429 for work accounts, 403 ErrorExceededMessageLimit for personal ones', async () => {
    const { exchange, outlook } = emulator.ctx.settings.limits;
    const saved = [exchange.recipientsPer24h, outlook.recipientsPer24h];
    emulator.ctx.settings.limits.rejectOverLimitSends = true;
    exchange.recipientsPer24h = 5;
    outlook.recipientsPer24h = 2;
    const lee = mintGraphToken(emulator.ctx, emulator.seed.users.approvalRequired);
    const alex = mintGraphToken(emulator.ctx, emulator.seed.users.personal);
    try {
      const three = ['a@example.org', 'b@example.org', 'c@example.org'];
      assert.equal((await callGraph(emulator.url, lee, 'POST', '/me/sendMail', message('d1', three))).status, 202);
      const over = await callGraph(emulator.url, lee, 'POST', '/me/sendMail', message('d2', three));
      assert.equal(over.status, 429);
      assert.equal(errorOf(over).code, 'ErrorSubmissionQuotaExceeded');
      const retryAfter = Number(over.headers.get('retry-after'));
      assert.ok(retryAfter > 86_000 && retryAfter <= 86_400, String(retryAfter));
      assert.equal(
        (await callGraph(emulator.url, lee, 'POST', '/me/sendMail', message('d3', ['a@example.org', 'b@example.org'])))
          .status,
        202,
      );

      assert.equal(
        (await callGraph(emulator.url, alex, 'POST', '/me/sendMail', message('p1', ['a@example.org', 'b@example.org'])))
          .status,
        202,
      );
      const personal = await callGraph(emulator.url, alex, 'POST', '/me/sendMail', message('p2', ['c@example.org']));
      assert.equal(personal.status, 403);
      assert.equal(errorOf(personal).code, 'ErrorExceededMessageLimit');
      assert.equal(personal.headers.get('retry-after'), null);

      emulator.ctx.clock.advance(24 * 3600 + 1);
      assert.equal(
        (
          await callGraph(
            emulator.url,
            mintGraphToken(emulator.ctx, emulator.seed.users.personal),
            'POST',
            '/me/sendMail',
            message('p3', ['c@example.org']),
          )
        ).status,
        202,
      );
      const usage = usageOf(emulator.seed.app.clientId, emulator.seed.users.approvalRequired.id)!;
      assert.equal(usage.throttled.recipientsPer24h, 1);
    } finally {
      [exchange.recipientsPer24h, outlook.recipientsPer24h] = saved as [number, number];
      emulator.ctx.settings.limits.rejectOverLimitSends = false;
    }
  });

  it('records nothing throttled for a mailbox that stayed within its limits', async () => {
    const it = emulator.seed.users.approvalAdmin;
    const token = mintGraphToken(emulator.ctx, it);
    assert.equal(
      (await callGraph(emulator.url, token, 'POST', '/me/sendMail', message('fine', ['a@example.org']))).status,
      202,
    );
    const usage = usageOf(emulator.seed.app.clientId, it.id)!;
    assert.deepEqual(usage.throttled, { concurrency: 0, requestRate: 0, messagesPerMinute: 0, recipientsPer24h: 0 });
    assert.equal(usage.maxInFlight, 1);
    assert.equal(usage.recentSends.length, 1);
  });

  it('answers an injected send throttle with 429 TooManyRequests and delivers nothing; other calls pass', async () => {
    const megan = emulator.seed.users.work;
    const token = mintGraphToken(emulator.ctx, megan);
    emulator.ctx.clock.advance(120);
    emulator.ctx.faults.push(fault({ kind: 'throttle429', target: 'send', userId: megan.id, retryAfterSeconds: 2.5 }));
    const before = emulator.ctx.world.deliveries.length;
    assert.equal((await callGraph(emulator.url, token, 'GET', '/me/messages?$top=1')).status, 200);
    const throttled = await callGraph(emulator.url, token, 'POST', '/me/sendMail', message('t', ['a@example.org']));
    assert.equal(throttled.status, 429);
    assert.equal(errorOf(throttled).code, 'TooManyRequests');
    assert.equal(throttled.headers.get('retry-after'), '2.5');
    assert.equal(emulator.ctx.world.deliveries.length, before);
    assert.equal(
      (await callGraph(emulator.url, token, 'POST', '/me/sendMail', message('t2', ['a@example.org']))).status,
      202,
    );
  });

  it('performs the send and drops the connection for timeoutAfterAccept', async () => {
    const megan = emulator.seed.users.work;
    const token = mintGraphToken(emulator.ctx, megan);
    emulator.ctx.clock.advance(120);
    emulator.ctx.faults.push(fault({ kind: 'timeoutAfterAccept', target: 'send', userId: megan.id }));
    const before = emulator.ctx.world.deliveries.length;
    await assert.rejects(
      callGraph(emulator.url, token, 'POST', '/me/sendMail', message('Accepted in silence', ['a@example.org'])),
    );
    assert.equal(emulator.ctx.world.deliveries.length, before + 1);
    assert.equal(emulator.ctx.world.deliveries.at(-1)?.subject, 'Accepted in silence');
    assert.equal(usageOf(emulator.seed.app.clientId, megan.id)?.inFlight, 0);
  });

  it('drops the connection without doing the work for drop, and answers 503 for unavailable503', async () => {
    const megan = emulator.seed.users.work;
    const token = mintGraphToken(emulator.ctx, megan);
    emulator.ctx.clock.advance(120);
    const before = emulator.ctx.world.deliveries.length;
    emulator.ctx.faults.push(fault({ kind: 'drop', target: 'graph', userId: megan.id }));
    await assert.rejects(callGraph(emulator.url, token, 'POST', '/me/sendMail', message('dropped', ['a@example.org'])));
    assert.equal(emulator.ctx.world.deliveries.length, before);
    emulator.ctx.faults.push(fault({ kind: 'unavailable503', target: 'graph', userId: megan.id }));
    const unavailable = await callGraph(emulator.url, token, 'GET', '/me');
    assert.equal(unavailable.status, 503);
    assert.ok(unavailable.headers.get('retry-after'));
    assert.equal((await callGraph(emulator.url, token, 'GET', '/me')).status, 200);
  });
});
