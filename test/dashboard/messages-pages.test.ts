import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { disconnectAccount } from '../../src/accounts/disconnect-account.js';
import { recordBounce } from '../../src/bounces/record-bounce.js';
import { dashboardOwnerExternalId } from '../../src/dashboard-auth/dashboard-users.js';
import { createOrganization, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { dispatchDueMessages } from '../../src/outbox/dispatcher.js';
import { sweepHeldMessages } from '../../src/outbox/held-messages.js';
import { submitMessage } from '../../src/outbox/submit-message.js';
import { MESSAGES_PAGE_SIZE } from '../../src/web/dashboard/messages-routes.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { type SeededAccount, seedConnectedAccount } from './account-fixtures.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, DashboardClient, seedAdmin } from './dashboard-client.js';
import { DEFAULT_SENDER, type MessagesService, startMessagesService } from './messages-harness.js';

/** The text of the element with this id (tags stripped, entities of the escaper decoded). */
function text(body: string, id: string): string | undefined {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(?:p|div|h1|h2|dd|code|pre|textarea)>`).exec(body);
  return match?.[1] === undefined ? undefined : decode(match[1].replace(/<[^>]+>/g, '')).trim();
}

function decode(value: string): string {
  return value
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

/** The `value` attribute of the input with this id. */
function inputValue(body: string, id: string): string | undefined {
  const tag = new RegExp(`<input[^>]*id="${id}"[^>]*>`).exec(body)?.[0];
  const value = tag === undefined ? undefined : /value="([^"]*)"/.exec(tag)?.[1];
  return value === undefined ? undefined : decode(value);
}

function formKey(body: string): string {
  const key = /name="form_key" value="([^"]+)"/.exec(body)?.[1];
  assert.ok(key, 'the form carries its idempotency key');
  return key;
}

function locationOf(answer: { headers: Record<string, unknown> }): string {
  const location = answer.headers['location'];
  assert.equal(typeof location, 'string');
  return location as string;
}

function messageIdOf(location: string): string {
  const id = /^\/dashboard\/messages\/(msg_[0-9a-z]{26})\?/.exec(location)?.[1];
  assert.ok(id, `a message page: ${location}`);
  return id;
}

for (const dialect of TEST_DIALECTS) {
  describe(`dashboard messages [${dialect}]`, () => {
    let harness: MessagesService;
    let client: DashboardClient;
    let organizationId: string;
    let ownerExternalId: string;
    let sam: SeededAccount;
    let kim: SeededAccount;
    /** Every page the tests load, for the secrets scan at the end. */
    const pages: string[] = [];

    const get = async (url: string) => {
      const answer = await client.get(url);
      pages.push(answer.body);
      return answer;
    };
    const post = async (url: string, fields: Record<string, string | null>) => {
      const answer = await client.post(url, fields);
      pages.push(answer.body);
      return answer;
    };
    const messageCount = async () =>
      Number(
        (
          await harness.service.deps.db
            .selectFrom('outbox_messages')
            .select((eb) => eb.fn.countAll().as('count'))
            .executeTakeFirstOrThrow()
        ).count,
      );
    const messageRow = (id: string) =>
      harness.service.deps.db.selectFrom('outbox_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    /** A fresh compose form, filled; `fields` override. */
    const composeFields = async (fields: Record<string, string>): Promise<Record<string, string>> => {
      const page = await get('/dashboard/messages/new');
      assert.equal(page.statusCode, 200);
      return {
        form_key: formKey(page.body),
        from: `account:${sam.id}`,
        to: 'candidate@example.org',
        subject: 'Hello',
        text: 'Hi there',
        ...fields,
      };
    };

    before(async () => {
      harness = await startMessagesService(dialect);
      const { deps } = harness.service;
      await seedAdmin(deps);
      organizationId = (await ensureDefaultOrganization(deps.db, deps.clock)).id;
      const user = await deps.db
        .selectFrom('dashboard_users')
        .select('id')
        .where('email', '=', ADMIN_EMAIL)
        .executeTakeFirstOrThrow();
      ownerExternalId = dashboardOwnerExternalId(user.id);
      sam = await seedConnectedAccount(deps, { organizationId, ownerExternalId, email: 'sam@outlook.com' });
      // Someone else's mailbox in the same organisation (connected through the API by the host product).
      kim = await seedConnectedAccount(deps, {
        organizationId,
        ownerExternalId: 'host-user-7',
        email: 'kim@outlook.com',
      });
      client = new DashboardClient(harness.service.app);
      assert.equal((await client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).statusCode, 303);
    });
    after(() => harness?.close());

    it('compose offers the user’s own mailboxes and says which provider “preferred” means', async () => {
      const page = await get('/dashboard/messages/new');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, new RegExp(`id="from-account-${sam.id}" checked`));
      assert.doesNotMatch(page.body, new RegExp(kim.id), 'another person’s mailbox is not offered');
      assert.match(page.body, /id="from-preferred"/);
      assert.match(page.body, /data-provider="default"/);
      assert.match(text(page.body, 'preferred-provider') ?? '', /^Default provider: from /);
      assert.ok(text(page.body, 'preferred-provider')?.includes(DEFAULT_SENDER));
      assert.match(page.body, /id="nav-messages" aria-current="page"/);
    });

    it('sends through the preferred provider once, however often the form is submitted', async () => {
      const fields = await composeFields({
        from: 'preferred',
        to: 'Candidate <candidate@example.org>, "Doe, Jane" <jane@example.org>',
        reply_to: 'replies@acme-recruiting.example',
        subject: 'Interview on Monday',
        text: 'Line one\r\nLine two',
      });
      const first = await post('/dashboard/messages/new', fields);
      assert.equal(first.statusCode, 303, first.body);
      const id = messageIdOf(locationOf(first));
      assert.match(locationOf(first), /\?sent=1$/);
      const second = await post('/dashboard/messages/new', fields);
      assert.equal(second.statusCode, 303);
      assert.equal(messageIdOf(locationOf(second)), id, 'the same form key finds the first message');
      assert.match(locationOf(second), /\?resubmitted=1$/);
      assert.equal(await messageCount(), 1);

      const queued = await get(locationOf(second));
      assert.match(text(queued.body, 'message-notice') ?? '', /already been sent/);
      assert.match(queued.body, /class="badge queued"/);
      assert.match(queued.body, /id="cancel-message"/);
      assert.equal(text(queued.body, 'body-preview'), 'Line one\nLine two');
      assert.equal(text(queued.body, 'message-to'), 'Candidate <candidate@example.org>, Doe, Jane <jane@example.org>');

      assert.equal(await dispatchDueMessages(harness.service.deps), 1);
      const row = await messageRow(id);
      assert.equal(row.status, 'sent', row.failure_message ?? '');
      const outside = harness.emulator.ctx.world.outside.filter(
        (each) => each.internetMessageId === row.internet_message_id,
      );
      assert.equal(outside.length, 1, 'one copy left for the outside world');
      assert.equal(outside[0]!.from, 'notifications@acme-mail.example');
      assert.deepEqual(outside[0]!.replyTo, ['replies@acme-recruiting.example']);
      assert.deepEqual(outside[0]!.envelopeTo?.sort(), ['candidate@example.org', 'jane@example.org']);

      const sent = await get(`/dashboard/messages/${id}`);
      assert.match(sent.body, /class="badge sent"/);
      assert.equal(text(sent.body, 'status-title'), 'Sent');
      assert.doesNotMatch(sent.body, /id="cancel-message"/);
      assert.match(sent.body, /<tr data-attempt="1" data-outcome="accepted">/);
      assert.match(sent.body, /<td>smtp<\/td>/);
      assert.match(text(sent.body, 'message-from') ?? '', /notifications@acme-mail\.example.*Default provider/);

      // The same form changed after it sent: the first message stands, and the page offers a new key.
      const changed = await post('/dashboard/messages/new', { ...fields, subject: 'Interview on Tuesday' });
      assert.equal(changed.statusCode, 409);
      assert.match(text(changed.body, 'compose-error') ?? '', /already used to send a message/);
      assert.match(changed.body, new RegExp(`href="/dashboard/messages/${id}" id="earlier-message"`));
      assert.notEqual(formKey(changed.body), fields.form_key);
      assert.equal(inputValue(changed.body, 'compose-subject'), 'Interview on Tuesday');
      assert.equal(await messageCount(), 1);
      const resent = await post('/dashboard/messages/new', {
        ...fields,
        subject: 'Interview on Tuesday',
        form_key: formKey(changed.body),
      });
      assert.equal(resent.statusCode, 303);
      assert.notEqual(messageIdOf(locationOf(resent)), id);
      await post(`/dashboard/messages/${messageIdOf(locationOf(resent))}/cancel`, {});
      assert.equal((await messageRow(messageIdOf(locationOf(resent)))).status, 'canceled');
    });

    it('bad input re-renders the form with the API’s precise message next to its box, keeps what was typed, queues nothing', async () => {
      const before = await messageCount();
      const cases: Array<{ fields: Record<string, string>; status: number; field: string; message: RegExp }> = [
        {
          fields: { to: 'candidate@example.org, not-an-address' },
          status: 400,
          field: 'to',
          message: /^to\[1\]: "not-an-address" is not a valid email address\.$/,
        },
        { fields: { to: '' }, status: 400, field: 'to', message: /no recipients/ },
        {
          fields: { subject: 'Hi\r\nBcc: victim@example.org' },
          status: 400,
          field: 'subject',
          message: /must not contain line breaks/,
        },
        { fields: { text: '   ' }, status: 400, field: 'text', message: /no content: give text and\/or html/ },
        { fields: { reply_to: 'replies@' }, status: 400, field: 'replyTo', message: /^replyTo: "replies@" is not/ },
        { fields: { cc: 'Eve\u0007 <eve@example.org>' }, status: 400, field: 'cc', message: /control character/ },
        { fields: { send_at: '2001-01-01T09:00' }, status: 400, field: 'sendAt', message: /is in the past/ },
        {
          fields: { send_at: '2027-02-30T09:00' },
          status: 400,
          field: 'sendAt',
          message: /^sendAt is not a real date-time: 2027-02-30 does not exist \(February 2027 has 28 days\)\.$/,
        },
      ];
      for (const each of cases) {
        const fields = await composeFields(each.fields);
        const answer = await post('/dashboard/messages/new', fields);
        assert.equal(answer.statusCode, each.status, `${JSON.stringify(each.fields)}: ${answer.statusCode}`);
        assert.match(text(answer.body, 'compose-error') ?? '', /^Not sent\./);
        const nextToBox = text(answer.body, `compose-${each.field}-error`);
        assert.match(nextToBox ?? '(none)', each.message, JSON.stringify(each.fields));
        assert.match(answer.body, new RegExp(`id="compose-${each.field}"[^>]*aria-invalid="true"`));
        // What was typed is still there, and the form keeps its key (nothing was stored under it).
        assert.equal(formKey(answer.body), fields.form_key);
        assert.equal(inputValue(answer.body, 'compose-to'), fields.to);
        if (each.field !== 'subject') assert.equal(inputValue(answer.body, 'compose-subject'), fields.subject);
        assert.equal(text(answer.body, 'compose-text'), (fields.text ?? '').trim());
        assert.match(answer.body, new RegExp(`id="from-account-${sam.id}" checked`));
      }
      // Markup typed into a box comes back as text, not markup.
      const hostile = await post('/dashboard/messages/new', await composeFields({ to: '<script>alert(1)</script>' }));
      assert.equal(hostile.statusCode, 400);
      assert.doesNotMatch(hostile.body, /<script>/);
      assert.equal(inputValue(hostile.body, 'compose-to'), '<script>alert(1)</script>');
      assert.equal(await messageCount(), before, 'nothing was queued');
    });

    it('sends only from the user’s own mailboxes; a form without its key or token sends nothing', async () => {
      const before = await messageCount();
      const other = await post('/dashboard/messages/new', await composeFields({ from: `account:${kim.id}` }));
      assert.equal(other.statusCode, 400);
      assert.match(text(other.body, 'compose-from-error') ?? '', /your own email accounts/);
      const unknown = await post('/dashboard/messages/new', await composeFields({ from: 'account:acc_nope' }));
      assert.equal(unknown.statusCode, 400);
      const keyless = await post('/dashboard/messages/new', await composeFields({ form_key: '' }));
      assert.equal(keyless.statusCode, 400);
      assert.match(text(keyless.body, 'compose-error') ?? '', /incomplete/);
      assert.ok(/name="form_key" value="[A-Za-z0-9_-]{22}"/.test(keyless.body), 'a fresh key to send again');
      const forged = await post('/dashboard/messages/new', { ...(await composeFields({})), _csrf: 'forged' });
      assert.equal(forged.statusCode, 403);
      assert.equal(await messageCount(), before);
    });

    it('cancels a queued message; a sent one cannot be canceled', async () => {
      const sentAnswer = await post('/dashboard/messages/new', await composeFields({}));
      const id = messageIdOf(locationOf(sentAnswer));
      const page = await get(`/dashboard/messages/${id}`);
      assert.match(page.body, /class="badge queued"/);
      assert.match(page.body, new RegExp(`action="/dashboard/messages/${id}/cancel"`));
      const canceled = await post(`/dashboard/messages/${id}/cancel`, {});
      assert.equal(canceled.statusCode, 303);
      assert.equal(locationOf(canceled), `/dashboard/messages/${id}?canceled=1`);
      const after = await get(locationOf(canceled));
      assert.match(after.body, /class="badge canceled"/);
      assert.match(text(after.body, 'message-notice') ?? '', /Canceled/);
      assert.doesNotMatch(after.body, /id="cancel-message"/);
      assert.equal((await messageRow(id)).status, 'canceled');
      const events = await harness.service.deps.db
        .selectFrom('events')
        .select(['type', 'data'])
        .where('type', '=', 'message.canceled')
        .execute();
      assert.ok(events.some((event) => (JSON.parse(event.data) as { messageId?: string }).messageId === id));

      const sentId = (
        await harness.service.deps.db
          .selectFrom('outbox_messages')
          .select('id')
          .where('status', '=', 'sent')
          .executeTakeFirstOrThrow()
      ).id;
      const refused = await post(`/dashboard/messages/${sentId}/cancel`, {});
      assert.equal(refused.statusCode, 409);
      assert.match(text(refused.body, 'message-notice') ?? '', /The message is sent; only queued or held/);
      assert.equal((await messageRow(sentId)).status, 'sent');
    });

    it('a held message says what the account needs and links to Reconnect; a failed one gives reason and remedy', async () => {
      const broken = await seedConnectedAccount(harness.service.deps, {
        organizationId,
        ownerExternalId,
        email: 'robin@outlook.com',
        status: { status: 'reconnect_required', reason: 'password_changed' },
      });
      const compose = await get('/dashboard/messages/new');
      assert.match(
        compose.body,
        /robin@outlook\.com<\/span> <span class="muted">\(Reconnect required: the message waits/,
      );
      const answer = await post('/dashboard/messages/new', await composeFields({ from: `account:${broken.id}` }));
      const heldId = messageIdOf(locationOf(answer));
      const held = await get(`/dashboard/messages/${heldId}`);
      assert.match(held.body, /class="badge held"/);
      assert.match(text(held.body, 'status-text') ?? '', /robin@outlook\.com needs attention \(Reconnect required\)/);
      assert.match(text(held.body, 'status-reason') ?? '', /reconnect_required: password_changed/);
      assert.match(text(held.body, 'what-to-do') ?? '', /password/i);
      assert.match(held.body, new RegExp(`action="/dashboard/accounts/${broken.id}/reconnect"`));
      assert.match(held.body, /id="reconnect"/);
      assert.match(held.body, /id="cancel-message"/);

      // The account is disconnected: the dispatcher's housekeeping fails its waiting message, with what to do.
      await disconnectAccount(harness.service.deps, organizationId, broken.id);
      await sweepHeldMessages(harness.service.deps);
      const failed = await get(`/dashboard/messages/${heldId}`);
      assert.match(failed.body, /class="badge failed"/);
      assert.equal(text(failed.body, 'status-reason'), 'account_disconnected');
      assert.match(text(failed.body, 'status-text') ?? '', /disconnected before the message could be sent/);
      assert.match(text(failed.body, 'what-to-do') ?? '', /Connect it again/);
      assert.doesNotMatch(failed.body, /id="cancel-message"|id="reconnect"/);
    });

    it('a bounced message shows its badge, the report’s status code and what to do', async () => {
      const { deps } = harness.service;
      const submitted = await submitMessage(
        deps,
        organizationId,
        { accountId: sam.id },
        { to: 'gone@example.org', text: 'x' },
      );
      // Fixture: Microsoft accepted it (the Graph path to `sent` is covered in test/outbox and test/bounces).
      const sent = await deps.db
        .updateTable('outbox_messages')
        .set({ status: 'sent', sent_at: deps.clock.now(), next_attempt_at: null })
        .where('id', '=', submitted.message.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      const account = await deps.db
        .selectFrom('accounts')
        .selectAll()
        .where('id', '=', sent.account_id!)
        .executeTakeFirstOrThrow();
      const detail = "Remote server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found'";
      assert.equal(
        await recordBounce(deps, account, { originalMessageId: sent.internet_message_id, status: '5.1.10', detail }),
        'bounced',
      );
      const page = await get(`/dashboard/messages/${sent.id}`);
      assert.match(page.body, /class="badge bounced" data-status="bounced">Bounced</);
      assert.match(text(page.body, 'status-text') ?? '', /non-delivery report \(5\.1\.10\)/);
      assert.equal(text(page.body, 'status-reason'), 'recipient_unknown');
      assert.match(text(page.body, 'what-to-do') ?? '', /Check the address/);
      const filtered = await get('/dashboard/messages?status=bounced');
      assert.match(filtered.body, new RegExp(`<tr data-message-id="${sent.id}">`));
    });

    it('lists messages newest first with status badges, filters by status and pages', async () => {
      const { deps } = harness.service;
      for (let i = 0; i < MESSAGES_PAGE_SIZE + 2; i++) {
        await submitMessage(deps, organizationId, { accountId: sam.id }, { to: `c${i}@example.org`, text: `n${i}` });
      }
      const first = await get('/dashboard/messages');
      assert.equal(first.statusCode, 200);
      const rows = [...first.body.matchAll(/<tr data-message-id="(msg_[0-9a-z]{26})">/g)].map((match) => match[1]);
      assert.equal(rows.length, MESSAGES_PAGE_SIZE);
      assert.deepEqual([...rows].sort().reverse(), rows, 'newest first');
      assert.match(first.body, /<td class="recipients">c26@example\.org<\/td>/);
      assert.match(first.body, /class="badge queued" data-status="queued">Queued</);
      const older = /id="older-page"/.test(first.body) && /href="([^"]+)" id="older-page"/.exec(first.body)?.[1];
      assert.ok(older, 'an Older link');
      const second = await get(decode(older));
      const secondRows = [...second.body.matchAll(/<tr data-message-id="(msg_[0-9a-z]{26})">/g)].map((m) => m[1]);
      assert.ok(secondRows.length > 0);
      assert.ok(secondRows.every((id) => !rows.includes(id)));
      assert.match(second.body, /id="newest-page"/);

      for (const status of ['sent', 'canceled', 'failed', 'queued'] as const) {
        const filtered = await get(`/dashboard/messages?status=${status}`);
        const badges = [...filtered.body.matchAll(/<td><span class="badge ([a-z_]+)"/g)].map((match) => match[1]);
        assert.ok(badges.length > 0, `some ${status} message`);
        assert.ok(
          badges.every((each) => each === status),
          `${status}: ${badges.join(',')}`,
        );
        assert.match(filtered.body, new RegExp(`id="filter-${status}" class="subnav-current" aria-current="page"`));
      }
      const none = await get('/dashboard/messages?status=outcome_unknown');
      assert.equal(text(none.body, 'no-messages'), 'No outcome unknown messages.');
    });

    it('another organisation’s message is Not found, and cannot be canceled', async () => {
      const { deps } = harness.service;
      const other = await createOrganization(deps.db, deps.clock, { name: 'Globex' });
      const theirs = await seedConnectedAccount(deps, {
        organizationId: other.id,
        ownerExternalId: 'globex-user',
        email: 'lee@outlook.com',
      });
      const { message } = await submitMessage(
        deps,
        other.id,
        { accountId: theirs.id },
        { to: 'x@example.org', subject: 'Globex secret plans', text: 'confidential' },
      );
      const page = await get(`/dashboard/messages/${message.id}`);
      assert.equal(page.statusCode, 404);
      assert.equal(text(page.body, 'message-title'), 'Not found');
      assert.doesNotMatch(page.body, /Globex secret plans|confidential/);
      const cancel = await post(`/dashboard/messages/${message.id}/cancel`, {});
      assert.equal(cancel.statusCode, 404);
      assert.equal((await messageRow(message.id)).status, 'queued');
      const list = await get('/dashboard/messages');
      assert.doesNotMatch(list.body, new RegExp(message.id));
      assert.equal((await get('/dashboard/messages/msg_not-an-id')).statusCode, 404);
      // Sending from their account through the form is refused like any account that is not the user's.
      const from = await post('/dashboard/messages/new', await composeFields({ from: `account:${theirs.id}` }));
      assert.equal(from.statusCode, 400);
    });

    it('no page carries a token, a secret or the session cookie', async () => {
      // One more look at every kind of page, then scan all pages the tests loaded.
      await get('/dashboard/messages');
      await get('/dashboard/messages/new');
      const secrets = [
        sam.accessToken,
        sam.refreshToken,
        kim.accessToken,
        kim.refreshToken,
        harness.emulator.clientSecret,
        harness.service.keyText.split(':')[1] ?? '',
        ...client.cookies.values(),
      ].filter((each) => each.length >= 16);
      assert.ok(secrets.length >= 6);
      assert.ok(pages.length > 30);
      for (const body of pages) {
        for (const secret of secrets) assert.ok(!body.includes(secret), 'a secret appeared in a page');
      }
      const answer = await client.get('/dashboard/messages');
      assert.equal(answer.headers['cache-control'], 'no-store');
      assert.match(String(answer.headers['content-security-policy']), /script-src 'self'/);
      assert.doesNotMatch(answer.body, /<script|style=/);
    });
  });
}
