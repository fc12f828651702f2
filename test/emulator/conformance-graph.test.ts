import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken } from '../support/graph-token.js';

/**
 * Conformance of Graph (docs/graph.md §3, docs/conformance.md §5.2) as a host-app developer drives it: faults, limits
 * and the transport's settings changed through the control API over HTTP, their effect observed over Graph and in the
 * control API's inspection routes. Access tokens are minted as a finished sign-in would have issued them.
 */

interface Delivery {
  internetMessageId: string;
  placements: Array<{ address: string; outcome: string }>;
}

describe('conformance: Graph under control API faults, limits and delivery settings', () => {
  let emulator: SeededEmulator;
  let counter = 0;

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  async function control(method: string, path: string, body?: unknown) {
    const response = await fetch(`${emulator.url}/_emulator${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  async function controlOrThrow(method: string, path: string, body?: unknown) {
    const answer = await control(method, path, body);
    assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** A new user through the control API, and a Mail.Send/Mail.ReadWrite token for them. */
  async function newUser(domain: string): Promise<{ user: User; token: string }> {
    counter++;
    const created = await controlOrThrow('POST', '/users', {
      email: `graph${counter}@${domain}`,
      password: 'pw-graph-conformance',
    });
    const user = emulator.ctx.world.users[String(created.id)]!;
    return { user, token: mintGraphToken(emulator.ctx, user) };
  }

  function mail(subject: string, recipients: string[], extra: Record<string, unknown> = {}) {
    return {
      message: { subject, toRecipients: recipients.map((address) => ({ emailAddress: { address } })), ...extra },
      saveToSentItems: false,
    };
  }

  async function deliveriesFrom(email: string): Promise<Delivery[]> {
    return (await controlOrThrow('GET', `/deliveries?sender=${email}`)).deliveries as Delivery[];
  }

  it('a send throttle added through the control API: 429 TooManyRequests with Retry-After 2.128, sends only, then it runs out', async () => {
    const { user, token } = await newUser('contoso.com');
    await controlOrThrow('POST', '/faults', { kind: 'throttle429', target: 'send', email: user.email, count: 2 });

    const throttled = await callGraph(emulator.url, token, 'POST', '/me/sendMail', mail('t1', ['x@partner.example']));
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get('retry-after'), '2.128');
    const error = errorOf(throttled);
    assert.equal(error.code, 'TooManyRequests');
    assert.equal(error.message, 'Please retry again later.');
    assert.equal(error.innerError.code, '429');
    assert.equal(error.innerError.status, '429');
    assert.ok(throttled.headers.get('request-id') && throttled.headers.get('date'));

    assert.equal((await callGraph(emulator.url, token, 'GET', '/me')).status, 200, 'reads are not sends');
    assert.equal(
      (await callGraph(emulator.url, token, 'POST', '/me/sendMail', mail('t2', ['x@partner.example']))).status,
      429,
    );
    const accepted = await callGraph(emulator.url, token, 'POST', '/me/sendMail', mail('t3', ['x@partner.example']));
    assert.equal(accepted.status, 202);
    assert.equal(accepted.text, '');
    assert.deepEqual(
      (await deliveriesFrom(user.email)).map((delivery) => delivery.placements[0]?.outcome),
      ['outside'],
      'only the accepted send was delivered',
    );
    assert.deepEqual((await controlOrThrow('GET', '/faults')).faults, []);
  });

  it('503, a dropped connection and a timeout after the send was accepted, through the control API', async () => {
    const { user, token } = await newUser('contoso.com');
    await controlOrThrow('POST', '/faults', { kind: 'unavailable503', target: 'graph', email: user.email, count: 1 });
    const unavailable = await callGraph(emulator.url, token, 'GET', '/me/mailFolders');
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get('retry-after'), '5');
    assert.equal(errorOf(unavailable).code, 'ServiceNotAvailable');

    await controlOrThrow('POST', '/faults', { kind: 'drop', target: 'send', email: user.email, count: 1 });
    await assert.rejects(
      callGraph(emulator.url, token, 'POST', '/me/sendMail', mail('dropped', ['y@partner.example'])),
    );
    assert.equal((await deliveriesFrom(user.email)).length, 0, 'a dropped request does nothing');

    await controlOrThrow('POST', '/faults', {
      kind: 'timeoutAfterAccept',
      target: 'send',
      email: user.email,
      count: 1,
    });
    await assert.rejects(
      callGraph(emulator.url, token, 'POST', '/me/sendMail', mail('unknown', ['y@partner.example'])),
    );
    const delivered = await deliveriesFrom(user.email);
    assert.equal(delivered.length, 1, 'the send happened although the client never heard');
    const outside = (await controlOrThrow('GET', '/outside?to=y@partner.example')).messages as Array<{
      subject: string;
    }>;
    assert.deepEqual(
      outside.map((message) => message.subject),
      ['unknown'],
    );
    const log = (await controlOrThrow('GET', `/requests?pathPrefix=/v1.0/me/sendMail&user=${user.email}`))
      .requests as Array<{ note: string | null }>;
    assert.deepEqual(
      log.map((entry) => entry.note),
      ['fault:drop', 'fault:timeoutAfterAccept'],
    );
  });

  it('sending limits set through PATCH /_emulator/settings apply per mailbox type (errors opted into)', async () => {
    const work = await newUser('contoso.com');
    const personal = await newUser('outlook.com');
    const three = ['a@partner.example', 'b@partner.example', 'c@partner.example'];
    await controlOrThrow('PATCH', '/settings', {
      limits: { outlook: { recipientsPerMessage: 2 }, exchange: { messagesPerMinute: 1 }, rejectOverLimitSends: true },
    });
    try {
      const tooMany = await callGraph(emulator.url, personal.token, 'POST', '/me/sendMail', mail('p', three));
      assert.equal(tooMany.status, 400);
      assert.equal(errorOf(tooMany).code, 'ErrorExceededMaxRecipientLimit');
      assert.equal(
        (await callGraph(emulator.url, work.token, 'POST', '/me/sendMail', mail('w1', three))).status,
        202,
        'Exchange Online allows 500 recipients per message',
      );
      const secondThisMinute = await callGraph(emulator.url, work.token, 'POST', '/me/sendMail', mail('w2', three));
      assert.equal(secondThisMinute.status, 429);
      assert.equal(errorOf(secondThisMinute).code, 'ErrorSubmissionQuotaExceeded');
      assert.ok(Number(secondThisMinute.headers.get('retry-after')) > 0);
      const usage = (await controlOrThrow('GET', `/usage?user=${work.user.email}`)).usage as Array<{
        throttled: { messagesPerMinute: number };
      }>;
      assert.equal(usage[0]?.throttled.messagesPerMinute, 1);
    } finally {
      await controlOrThrow('PATCH', '/settings', {
        limits: {
          outlook: { recipientsPerMessage: 500 },
          exchange: { messagesPerMinute: 30 },
          rejectOverLimitSends: false,
        },
      });
    }
  });

  it('the transport model set through PATCH /_emulator/settings: junk base rate, custom header stripping', async () => {
    const invalid = await control('PATCH', '/settings', { delivery: { junkBase: 2 } });
    assert.equal(invalid.status, 400);
    assert.match(String((invalid.body.error as { message: string }).message), /body\.delivery\.junkBase/);

    const sender = await newUser('contoso.com');
    const personal = await newUser('outlook.com');
    const otherOrganisation = emulator.seed.users.approvalRequired.email;
    const settings = await controlOrThrow('PATCH', '/settings', {
      delivery: { junkBase: 0, stripCustomHeaders: 'personal' },
    });
    assert.equal((settings.delivery as { junkBase: number }).junkBase, 0);
    assert.equal((settings.delivery as { internalBypassesJunk: boolean }).internalBypassesJunk, true, 'merged');
    try {
      for (let index = 0; index < 8; index++) {
        const answer = await callGraph(
          emulator.url,
          sender.token,
          'POST',
          '/me/sendMail',
          mail(`news ${index}`, [personal.user.email, otherOrganisation], {
            internetMessageHeaders: [{ name: 'X-Campaign', value: 'spring' }],
          }),
        );
        assert.equal(answer.status, 202, answer.text);
      }
      const deliveries = await deliveriesFrom(sender.user.email);
      assert.equal(deliveries.length, 8);
      const outcomes = new Set(deliveries.flatMap((delivery) => delivery.placements.map((each) => each.outcome)));
      assert.deepEqual([...outcomes], ['inbox'], 'no junk at a junk base rate of 0');

      const copyIn = async (mailbox: string) => {
        const found = await controlOrThrow(
          'GET',
          `/mailboxes/${mailbox}/messages?internetMessageId=${encodeURIComponent(deliveries[0]!.internetMessageId)}`,
        );
        const [message] = found.messages as Array<{ internetMessageHeaders: Array<{ name: string }> }>;
        assert.ok(message, `no copy in ${mailbox}`);
        return message.internetMessageHeaders.map((header) => header.name);
      };
      assert.ok(!(await copyIn(personal.user.email)).includes('X-Campaign'), 'stripped on the way to Outlook.com');
      assert.ok((await copyIn(otherOrganisation)).includes('X-Campaign'), 'kept for a work mailbox');
    } finally {
      await controlOrThrow('PATCH', '/settings', { delivery: { junkBase: 0.6, stripCustomHeaders: 'none' } });
    }
  });

  it('the request log keeps the newest requestLogLimit entries (PATCH /_emulator/settings)', async () => {
    const { token } = await newUser('contoso.com');
    await controlOrThrow('PATCH', '/settings', { requestLogLimit: 3 });
    try {
      for (let n = 1; n <= 5; n++) {
        assert.equal((await callGraph(emulator.url, token, 'GET', `/me?probe=${n}`)).status, 200);
      }
      const log = (await controlOrThrow('GET', '/requests')).requests as Array<{ path: string; status: number }>;
      assert.deepEqual(
        log.map((entry) => `${entry.path} ${entry.status}`),
        ['/v1.0/me?probe=3 200', '/v1.0/me?probe=4 200', '/v1.0/me?probe=5 200'],
      );
      assert.equal(((await controlOrThrow('GET', '')).counts as { requests: number }).requests, 3);
    } finally {
      await controlOrThrow('PATCH', '/settings', { requestLogLimit: 50_000 });
    }
  });

  it('a mailbox disabled through the control API: 404 MailboxNotEnabledForRESTAPI, /me still answers, mail to it bounces', async () => {
    const owner = await newUser('contoso.com');
    const sender = await newUser('contoso.com');
    await controlOrThrow('PATCH', `/users/${owner.user.email}`, { mailboxEnabled: false });
    assert.equal((await callGraph(emulator.url, owner.token, 'GET', '/me')).status, 200);
    const listing = await callGraph(emulator.url, owner.token, 'GET', '/me/mailFolders/inbox/messages');
    assert.equal(listing.status, 404);
    assert.equal(errorOf(listing).code, 'MailboxNotEnabledForRESTAPI');

    const sent = await callGraph(emulator.url, sender.token, 'POST', '/me/sendMail', mail('hello', [owner.user.email]));
    assert.equal(sent.status, 202, '202 is acceptance, not delivery');
    assert.deepEqual((await deliveriesFrom(sender.user.email))[0]?.placements, [
      { address: owner.user.email, outcome: 'ndr', status: '5.1.10' },
    ]);
    const inbox = (await controlOrThrow('GET', `/mailboxes/${sender.user.email}/folders/inbox/messages`))
      .messages as Array<{ subject: string; body: { content: string } }>;
    assert.equal(inbox[0]?.subject, 'Undeliverable: hello');
    assert.match(inbox[0]?.body.content ?? '', /550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound/);
  });
});
