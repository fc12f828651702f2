import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, mintGraphToken, valuesOf } from '../support/graph-token.js';

/**
 * Sending limits as Microsoft shows them (docs/graph.md §3.3): over 30 messages a minute sendMail still answers 202
 * and Exchange delays the excess; over the daily recipient limit (5.1.90) and for a restricted sender (5.1.8) the
 * sender gets a non-delivery report in its Inbox. Everything over real HTTP, Graph and the control API.
 */
describe('emulator Graph: sending limits as Microsoft shows them', () => {
  let emulator: SeededEmulator;
  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  let counter = 0;
  async function control(method: string, path: string, body?: unknown) {
    const response = await fetch(`${emulator.url}/_emulator${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as Record<string, unknown>;
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }
  async function newWorkUser(): Promise<{ user: User; token: string }> {
    counter += 1;
    const email = `limits${counter}@contoso.com`;
    await control('POST', '/users', { email, password: 'Passw0rd!x', displayName: `Limits ${counter}` });
    const user = Object.values(emulator.ctx.world.users).find((each) => each.email === email)!;
    return { user, token: mintGraphToken(emulator.ctx, user) };
  }
  const mail = (subject: string, recipients: string[]) => ({
    message: {
      subject,
      body: { contentType: 'Text', content: 'hello' },
      toRecipients: recipients.map((address) => ({ emailAddress: { address } })),
    },
  });
  interface DeliveryView {
    subject: string;
    at: string;
    submittedAt: string;
    internetMessageId: string;
    placements: Array<{ address: string; outcome: string; status?: string }>;
  }
  async function deliveriesOf(email: string) {
    return (await control('GET', `/deliveries?sender=${email}`)) as unknown as {
      deliveries: DeliveryView[];
      pending: Array<{ subject: string; dueAt: string; submittedAt: string }>;
    };
  }
  async function inboxOf(token: string) {
    const answer = await callGraph(
      emulator.url,
      token,
      'GET',
      '/me/mailFolders/inbox/messages?$select=subject,from,toRecipients,body&$top=50',
      undefined,
      { prefer: 'outlook.body-content-type="text"' },
    );
    assert.equal(answer.status, 200);
    return valuesOf(answer) as Array<{
      subject: string;
      from: { emailAddress: { name: string; address: string } };
      toRecipients: Array<{ emailAddress: { address: string } }>;
      body: { content: string };
    }>;
  }

  it('31 messages in a minute: all 202; the 31st is held and delivered the next minute', async () => {
    const sender = await newWorkUser();
    const recipient = await newWorkUser();
    for (let n = 1; n <= 31; n++) {
      const answer = await callGraph(
        emulator.url,
        sender.token,
        'POST',
        '/me/sendMail',
        mail(`burst ${n}`, [recipient.user.email]),
      );
      assert.equal(answer.status, 202, `message ${n}`);
    }
    const during = await deliveriesOf(sender.user.email);
    assert.equal(during.deliveries.length, 30, 'thirty delivered at once');
    assert.deepEqual(
      during.pending.map((each) => each.subject),
      ['burst 31'],
    );
    const firstAt = Date.parse(during.deliveries[0]!.at);
    const dueAt = Date.parse(during.pending[0]!.dueAt);
    // Due when the first send of the minute leaves the window (its limit check ran a moment before it was logged).
    assert.ok(dueAt > firstAt + 59_000 && dueAt <= firstAt + 60_000, `${dueAt - firstAt} ms after the first`);
    assert.equal((await inboxOf(recipient.token)).filter((each) => each.subject === 'burst 31').length, 0);

    emulator.ctx.clock.advance(61);
    const later = await deliveriesOf(sender.user.email);
    assert.equal(later.pending.length, 0);
    assert.equal(later.deliveries.length, 31);
    const last = later.deliveries.at(-1)!;
    assert.equal(last.subject, 'burst 31');
    assert.ok(Date.parse(last.at) - Date.parse(last.submittedAt) >= 60_000, 'the log shows the delay');
    assert.equal((await inboxOf(recipient.token)).filter((each) => each.subject === 'burst 31').length, 1);
    const usage = emulator.ctx.usage[`${emulator.seed.app.clientId}|${sender.user.id}`]!;
    assert.equal(usage.throttled.messagesPerMinute, 1, 'the usage view counts the send over the rate');
  });

  it('over the daily recipient limit: 202, nothing delivered, a 5.1.90 non-delivery report in the sender’s Inbox', async () => {
    const sender = await newWorkUser();
    const recipient = await newWorkUser();
    await control('PATCH', '/settings', { limits: { exchange: { recipientsPer24h: 2 } } });
    try {
      const first = await callGraph(
        emulator.url,
        sender.token,
        'POST',
        '/me/sendMail',
        mail('within', [recipient.user.email, 'x@example.org']),
      );
      assert.equal(first.status, 202);
      const over = await callGraph(
        emulator.url,
        sender.token,
        'POST',
        '/me/sendMail',
        mail('over the cap', [recipient.user.email]),
      );
      assert.equal(over.status, 202, 'Graph accepts it; the report comes later');
    } finally {
      await control('PATCH', '/settings', { limits: { exchange: { recipientsPer24h: 10_000 } } });
    }
    const log = await deliveriesOf(sender.user.email);
    const record = log.deliveries.find((each) => each.subject === 'over the cap')!;
    assert.deepEqual(record.placements, [{ address: recipient.user.email, outcome: 'ndr', status: '5.1.90' }]);
    assert.equal((await inboxOf(recipient.token)).filter((each) => each.subject === 'over the cap').length, 0);
    const reports = (await inboxOf(sender.token)).filter((each) => each.subject === 'Undeliverable: over the cap');
    assert.equal(reports.length, 1);
    const report = reports[0]!;
    assert.deepEqual(report.from.emailAddress, {
      name: 'Microsoft Outlook',
      address: 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com',
    });
    assert.deepEqual(
      report.toRecipients.map((each) => each.emailAddress.address),
      [recipient.user.email],
    );
    assert.match(report.body.content, /^Delivery has failed to these recipients or groups:/);
    assert.match(
      report.body.content,
      /550 5\.1\.90 Your message can't be sent because you've reached your daily limit for message recipients/,
    );
    assert.match(report.body.content, /Original message headers:[\s\S]*Message-ID: (\S+)/);
    assert.ok(report.body.content.includes(`Message-ID: ${record.internetMessageId}`));
  });

  it('a restricted sender (control API switch): 202, nothing delivered, a 5.1.8 report; lifting it delivers again', async () => {
    const sender = await newWorkUser();
    const recipient = await newWorkUser();
    const patched = (await control('PATCH', `/users/${sender.user.email}`, { restrictedSender: true })) as {
      user?: { restrictedSender?: boolean };
      restrictedSender?: boolean;
    };
    assert.equal(patched.user?.restrictedSender ?? patched.restrictedSender, true);
    const blocked = await callGraph(
      emulator.url,
      sender.token,
      'POST',
      '/me/sendMail',
      mail('blocked', [recipient.user.email]),
    );
    assert.equal(blocked.status, 202);
    const record = (await deliveriesOf(sender.user.email)).deliveries.find((each) => each.subject === 'blocked')!;
    assert.deepEqual(record.placements, [{ address: recipient.user.email, outcome: 'ndr', status: '5.1.8' }]);
    const report = (await inboxOf(sender.token)).find((each) => each.subject === 'Undeliverable: blocked')!;
    assert.match(report.body.content, /550 5\.1\.8 Access denied, bad outbound sender/);
    assert.ok(report.body.content.includes(`Message-ID: ${record.internetMessageId}`));
    assert.equal((await inboxOf(recipient.token)).filter((each) => each.subject === 'blocked').length, 0);

    await control('PATCH', `/users/${sender.user.email}`, { restrictedSender: false });
    assert.equal(
      (await callGraph(emulator.url, sender.token, 'POST', '/me/sendMail', mail('unblocked', [recipient.user.email])))
        .status,
      202,
    );
    assert.equal((await inboxOf(recipient.token)).filter((each) => each.subject === 'unblocked').length, 1);
  });

  it('refuses a restrictedSender that is not a boolean, changing nothing', async () => {
    const sender = await newWorkUser();
    const response = await fetch(`${emulator.url}/_emulator/users/${sender.user.email}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ restrictedSender: 'yes' }),
    });
    assert.equal(response.status, 400);
    assert.match(JSON.stringify(await response.json()), /restrictedSender/);
    assert.equal(emulator.ctx.world.users[sender.user.id]?.restrictedSender, undefined);
  });
});
