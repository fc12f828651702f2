import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RECORDED_ERRORS, type RecordedErrorName } from '../../emulator/recorded-errors.js';
import { HEALTH_REMEDIATION, MESSAGE_REFUSAL_REMEDIATION } from '../../src/health/remediation.js';
import { type OutboxHarness, startOutboxHarness } from './outbox-test-kit.js';

/**
 * What mailbridge does next when Graph answers a send with an error Microsoft was recorded sending (issue 15 cases
 * 1–3 and 7; issue 9 item 4: ErrorMessageSubmissionBlocked and a really full mailbox) or the token endpoint answers
 * a refresh with 70043 (case 8). The emulator answers through its control API (`recorded` faults), over real HTTP.
 */
describe('outbox: Microsoft’s recorded errors, end to end', () => {
  let h: OutboxHarness;
  let alex: string;

  before(async () => {
    h = await startOutboxHarness('sqlite');
    alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
  });
  after(async () => {
    await h?.close();
  });
  beforeEach(async () => {
    await control('DELETE', '/faults');
    // Back to a connected account through the real connect flow (a reconnect keeps the account id).
    assert.equal(await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' }), alex);
  });

  async function control(method: string, path: string, body?: unknown) {
    const response = await fetch(`${h.emulator.url}/_emulator${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  }

  /** Once (`count`), or, as the mailbox's real condition does, every time until removed. */
  const fault = (recorded: RecordedErrorName, target: 'send' | 'token', count?: number) =>
    control('POST', '/faults', {
      kind: 'recorded',
      recorded,
      target,
      email: 'alex@outlook.com',
      ...(count ? { count } : {}),
    });

  const queue = async (subject: string, headers?: Record<string, string>) => {
    const answer = await h.send(`/v1/accounts/${alex}/messages`, {
      to: 'lee@fabrikam.com',
      subject,
      text: `${subject}.`,
      ...(headers ? { headers } : {}),
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    return answer.body.id as string;
  };

  const account = () =>
    h.service.deps.db
      .selectFrom('accounts')
      .select(['status', 'status_reason'])
      .where('id', '=', alex)
      .executeTakeFirstOrThrow();

  it(`case 1, named-property quota (${RECORDED_ERRORS.named_property_quota.source}): that message fails, the mailbox keeps sending`, async () => {
    await fault('named_property_quota', 'send', 1);
    const refused = await queue('A new header name', { 'x-campaign-2041': 'spring' });
    await h.drain();
    const row = await h.message(refused);
    assert.equal(row.status, 'failed');
    assert.equal(row.failure_reason, 'rejected_by_microsoft');
    assert.equal(
      JSON.parse(row.failure_remediation ?? '{}').operator,
      MESSAGE_REFUSAL_REMEDIATION.named_property_quota!.operator,
    );
    assert.deepEqual(await account(), { status: 'connected', status_reason: null });
    const next = await queue('The next one');
    await h.drain();
    assert.equal((await h.message(next)).status, 'sent');
  });

  const accountLevel: [RecordedErrorName, string][] = [
    ['mailbox_full', 'quota_exceeded'],
    ['target_mailbox_quota', 'quota_exceeded'],
    ['odata_disabled', 'api_access_blocked'],
    ['mailbox_not_discovered', 'mailbox_not_found'],
    ['submission_blocked', 'sending_blocked'],
  ];
  for (const [recorded, reason] of accountLevel) {
    it(`${recorded} (${RECORDED_ERRORS[recorded].source}): the account is mailbox_unusable:${reason}, an account status, not a string of per-message failures`, async () => {
      await fault(recorded, 'send');
      const queued: string[] = [];
      for (let n = 1; n <= 8; n++) queued.push(await queue(`${recorded} #${n}`));
      const since = h.ctx.nextRequestSeq;
      await h.drain();
      assert.deepEqual(await account(), { status: 'mailbox_unusable', status_reason: reason });
      for (const id of queued) {
        const row = await h.message(id);
        assert.equal(row.status, 'failed', 'never held for a reconnect that cannot help, never retried as transient');
        assert.equal(row.failure_reason, 'mailbox_unusable');
        assert.equal(
          JSON.parse(row.failure_remediation ?? '{}').user,
          HEALTH_REMEDIATION[`mailbox_unusable:${reason}` as keyof typeof HEALTH_REMEDIATION].user,
        );
      }
      // The messages in flight with the first reached Microsoft; the rest failed on the account's status.
      const alexId = Object.values(h.ctx.world.users).find((user) => user.email === 'alex@outlook.com')!.id;
      const sends = h.ctx.requestLog.filter(
        (entry) => entry.seq >= since && entry.userId === alexId && entry.path.endsWith('/sendMail'),
      );
      assert.ok(sends.length < queued.length, `${sends.length} sends for ${queued.length} messages`);
      const refused = await h.send(`/v1/accounts/${alex}/messages`, {
        to: 'lee@fabrikam.com',
        subject: 'y',
        text: 'y',
      });
      assert.equal(refused.status, 409);
      assert.deepEqual(refused.body.error.details, { accountId: alex, status: 'mailbox_unusable', reason });
    });
  }

  it(`case 8, AADSTS70043 on refresh (${RECORDED_ERRORS.sign_in_frequency.source}): held for a reconnect, with the policy named`, async () => {
    await fault('sign_in_frequency', 'token');
    h.advance(2 * 3600); // past the access token's lifetime: the next send refreshes
    const held = await queue('After the policy period');
    await h.drain();
    assert.deepEqual(await account(), { status: 'reconnect_required', status_reason: 'sign_in_frequency' });
    const row = await h.message(held);
    assert.equal(row.status, 'held');
    assert.equal(row.held_reason, 'reconnect_required');
  });
});
