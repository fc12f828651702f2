import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONSUMER_TENANT_ID } from '../../emulator/state/model.js';
import { graphUserId } from '../../emulator/state/personal-accounts.js';
import { copiesIn, deliveriesOf, type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

/**
 * An Outlook.com account end to end, with the identifiers Microsoft really gives personal accounts (docs/entra.md
 * §1.6): an id_token `oid` of the form 00000000-0000-0000-…, a Graph `/me` whose `id` is a 16-hex-digit CID that is
 * not the oid, `mail: null` and the address in `userPrincipalName`, and opaque access tokens. Everything goes over
 * real HTTP between mailbridge and the emulator standing in for login.microsoftonline.com and graph.microsoft.com.
 */
describe('outbox: an Outlook.com account connects, refreshes and sends', () => {
  let h: OutboxHarness;
  before(async () => {
    h = await startOutboxHarness('sqlite');
  });
  after(async () => {
    await h?.close();
  });

  it('keys the account on tid + oid, takes the address from userPrincipalName, refreshes, then sends', async () => {
    const alex = h.emulator.seed.users.personal;
    // The emulator gives alex Microsoft's shapes: the test is only meaningful if they differ.
    assert.match(alex.id, /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(graphUserId(alex), /^[0-9a-f]{16}$/);

    const accountId = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
    const account = await h.service.deps.db
      .selectFrom('accounts')
      .selectAll()
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    assert.equal(account.tenant_id, CONSUMER_TENANT_ID);
    assert.equal(account.object_id, alex.id);
    assert.equal(account.email, 'alex@outlook.com');
    assert.equal(account.display_name, 'Alex Wilber');
    // The connect flow read /me (which answered mail: null) and went on.
    const meCalls = h.ctx.requestLog.filter((entry) => entry.path.startsWith('/v1.0/me') && entry.userId === alex.id);
    assert.ok(meCalls.some((entry) => entry.status === 200));

    // Two hours later the access token (60–90 min) has expired: sending must refresh first.
    const refreshesBefore = tokenRequestsFor(alex.id).length;
    h.advance(2 * 3600);
    const accepted = await h.send(`/v1/accounts/${accountId}/messages`, {
      to: 'megan@contoso.com',
      subject: 'From Outlook.com',
      text: 'Sent from a personal account.',
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(await h.dispatch(), 1);
    const row = await h.message(accepted.body.id);
    assert.equal(row.status, 'sent', row.failure_message ?? '');

    const refreshes = tokenRequestsFor(alex.id).slice(refreshesBefore);
    assert.equal(refreshes.length, 1, 'one refresh grant before the send');
    assert.equal(refreshes[0]!.status, 200);
    const refreshed = await h.service.deps.db
      .selectFrom('accounts')
      .select(['status', 'refresh_token_issued_at', 'access_token_expires_at'])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    assert.equal(refreshed.status, 'connected');
    assert.ok(Number(refreshed.refresh_token_issued_at) > Number(account.refresh_token_issued_at));

    const deliveries = deliveriesOf(h.ctx, row.internet_message_id);
    assert.equal(deliveries.length, 1);
    assert.equal(deliveries[0]!.from, 'alex@outlook.com');
    assert.equal(deliveries[0]!.senderUserId, alex.id);
    assert.equal(copiesIn(h.ctx, h.emulator.seed.users.work.id, row.internet_message_id).length, 1);
  });

  function tokenRequestsFor(userId: string) {
    return h.ctx.requestLog.filter(
      (entry) => entry.method === 'POST' && entry.path.endsWith('/oauth2/v2.0/token') && entry.userId === userId,
    );
  }
});
