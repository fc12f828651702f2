import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendMessageBody } from '../../src/outbox/message-api.js';
import { ATTACHMENT_FIELDS, MESSAGE_FIELDS } from '../../src/outbox/message-input.js';
import { OUTBOX_ERRORS } from '../../src/outbox/outbox-errors.js';
import { type ApiClient, callApi, createApiClient, seedAccount, snapshotDatabase } from '../api/api-test-support.js';
import { TEST_DIALECTS } from '../support/databases.js';
import { startTestService, type TestService } from '../support/service.js';

const MB = 1024 * 1024;
const base64Of = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');
const addresses = (count: number, domain = 'example.org') =>
  Array.from({ length: count }, (_, i) => `person${i}@${domain}`);

interface BadInput {
  name: string;
  /** Which account (or owner) the request goes to. */
  target?: 'sendOnly' | 'warmup' | 'disconnected' | 'unusable' | 'otherOrg' | 'unknown' | 'malformed' | 'owner';
  body?: unknown;
  /** Raw body text (sent as is) with this content type. */
  raw?: { text: string; contentType: string };
  headers?: Record<string, string>;
  status: number;
  code: string;
  details?: Record<string, unknown>;
}

const GOOD = { to: 'candidate@example.org', subject: 'Hello', text: 'Hi there' };

/** At least 30 distinct bad inputs (issue 4 "Done when"): each gets its precise 4xx and queues nothing. */
const BAD_INPUTS: BadInput[] = [
  { name: 'malformed address', body: { ...GOOD, to: 'not-an-address' }, status: 400, code: 'OUTBOX_ADDRESS_INVALID' },
  {
    name: 'CR/LF injection in an address',
    body: { ...GOOD, to: 'a@example.org\r\nBcc: victim@example.org' },
    status: 400,
    code: 'OUTBOX_ADDRESS_INVALID',
  },
  {
    name: 'CR/LF in a display name',
    body: { ...GOOD, to: { address: 'a@example.org', name: 'Eve\r\nBcc: victim@example.org' } },
    status: 400,
    code: 'OUTBOX_ADDRESS_NAME_INVALID',
  },
  {
    name: 'double dot in the local part',
    body: { ...GOOD, cc: ['a..b@example.org'] },
    status: 400,
    code: 'OUTBOX_ADDRESS_INVALID',
    details: { field: 'cc[0]' },
  },
  {
    name: 'domain without a dot',
    body: { ...GOOD, bcc: 'root@localhost' },
    status: 400,
    code: 'OUTBOX_ADDRESS_INVALID',
  },
  { name: 'malformed reply-to', body: { ...GOOD, replyTo: 'reply@' }, status: 400, code: 'OUTBOX_ADDRESS_INVALID' },
  {
    name: 'address object without address',
    body: { ...GOOD, to: [{ name: 'Nobody' }] },
    status: 400,
    code: 'OUTBOX_FIELD_INVALID',
  },
  { name: 'recipients of the wrong type', body: { ...GOOD, to: 42 }, status: 400, code: 'OUTBOX_FIELD_INVALID' },
  { name: 'no recipients', body: { subject: 'Hello', text: 'Hi' }, status: 400, code: 'OUTBOX_NO_RECIPIENTS' },
  {
    name: '501 recipients',
    body: { ...GOOD, to: addresses(501) },
    status: 400,
    code: 'OUTBOX_TOO_MANY_RECIPIENTS',
    details: { count: 501, limit: 500 },
  },
  {
    name: '600 recipients over to, cc and bcc',
    body: {
      ...GOOD,
      to: addresses(200, 'a.example'),
      cc: addresses(200, 'b.example'),
      bcc: addresses(200, 'c.example'),
    },
    status: 400,
    code: 'OUTBOX_TOO_MANY_RECIPIENTS',
  },
  {
    name: 'CR/LF in the subject',
    body: { ...GOOD, subject: 'Hi\r\nBcc: victim@example.org' },
    status: 400,
    code: 'OUTBOX_SUBJECT_INVALID',
  },
  {
    name: 'bare LF in the subject',
    body: { ...GOOD, subject: 'Hi\nthere' },
    status: 400,
    code: 'OUTBOX_SUBJECT_INVALID',
  },
  {
    name: 'subject over 998 characters',
    body: { ...GOOD, subject: 'x'.repeat(999) },
    status: 400,
    code: 'OUTBOX_SUBJECT_TOO_LONG',
  },
  { name: 'subject not a string', body: { ...GOOD, subject: ['Hi'] }, status: 400, code: 'OUTBOX_FIELD_INVALID' },
  {
    name: 'empty message (no text, no html)',
    body: { to: 'a@example.org', subject: 'Hi' },
    status: 400,
    code: 'OUTBOX_CONTENT_MISSING',
  },
  { name: 'empty text and html', body: { ...GOOD, text: '', html: '' }, status: 400, code: 'OUTBOX_CONTENT_MISSING' },
  {
    name: 'oversize body',
    body: { ...GOOD, text: 'x'.repeat(3 * MB + 1) },
    status: 413,
    code: 'OUTBOX_CONTENT_TOO_LARGE',
  },
  {
    name: 'a non-x- header',
    body: { ...GOOD, headers: { 'Reply-To': 'eve@example.org' } },
    status: 400,
    code: 'OUTBOX_HEADER_NAME_NOT_CUSTOM',
  },
  {
    name: 'CR/LF in a header name',
    body: { ...GOOD, headers: { 'X-A\r\nBcc': 'victim@example.org' } },
    status: 400,
    code: 'OUTBOX_HEADER_NAME_INVALID',
  },
  {
    name: 'space in a header name',
    body: { ...GOOD, headers: { 'X Tag': 'v' } },
    status: 400,
    code: 'OUTBOX_HEADER_NAME_INVALID',
  },
  {
    name: 'CR/LF in a header value',
    body: { ...GOOD, headers: { 'X-Tag': 'v\r\nBcc: victim@example.org' } },
    status: 400,
    code: 'OUTBOX_HEADER_VALUE_INVALID',
  },
  {
    name: 'six headers',
    body: { ...GOOD, headers: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`X-H${i}`, 'v'])) },
    status: 400,
    code: 'OUTBOX_TOO_MANY_HEADERS',
  },
  {
    name: 'the same header twice',
    body: { ...GOOD, headers: { 'X-Tag': 'a', 'x-tag': 'b' } },
    status: 400,
    code: 'OUTBOX_HEADER_DUPLICATE',
  },
  {
    name: 'headers as an array',
    body: { ...GOOD, headers: [{ name: 'X-A', value: 'b' }] },
    status: 400,
    code: 'OUTBOX_FIELD_INVALID',
  },
  {
    name: 'invalid base64',
    body: { ...GOOD, attachments: [{ name: 'a.txt', contentType: 'text/plain', contentBase64: 'not base64!' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_BASE64_INVALID',
  },
  {
    name: 'base64 of impossible length',
    body: { ...GOOD, attachments: [{ name: 'a.txt', contentType: 'text/plain', contentBase64: 'abcde' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_BASE64_INVALID',
  },
  {
    name: 'attachment without a name',
    body: { ...GOOD, attachments: [{ contentType: 'text/plain', contentBase64: 'aGk=' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_NAME_INVALID',
  },
  {
    name: 'attachment name with a path',
    body: { ...GOOD, attachments: [{ name: '../etc/passwd', contentType: 'text/plain', contentBase64: 'aGk=' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_NAME_INVALID',
  },
  {
    name: 'attachment content type that is not a MIME type',
    body: { ...GOOD, attachments: [{ name: 'a.txt', contentType: 'text plain', contentBase64: 'aGk=' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_TYPE_INVALID',
  },
  {
    name: 'empty attachment',
    body: { ...GOOD, attachments: [{ name: 'a.txt', contentType: 'text/plain', contentBase64: '' }] },
    status: 400,
    code: 'OUTBOX_ATTACHMENT_EMPTY',
  },
  {
    name: 'unknown attachment field',
    body: { ...GOOD, attachments: [{ name: 'a.txt', contentBase64: 'aGk=', url: 'https://evil.example/x' }] },
    status: 400,
    code: 'OUTBOX_FIELD_UNKNOWN',
  },
  {
    name: '51 attachments',
    body: { ...GOOD, attachments: Array.from({ length: 51 }, (_, i) => ({ name: `${i}.txt`, contentBase64: 'aGk=' })) },
    status: 400,
    code: 'OUTBOX_TOO_MANY_ATTACHMENTS',
  },
  {
    name: 'a 5 MB attachment on a send-only account',
    target: 'sendOnly',
    body: {
      ...GOOD,
      attachments: [{ name: 'big.pdf', contentType: 'application/pdf', contentBase64: base64Of(5 * MB) }],
    },
    status: 413,
    code: 'OUTBOX_ATTACHMENT_TOO_LARGE',
    details: { reason: 'needs_mail_readwrite' },
  },
  {
    name: 'two 2 MB attachments on a send-only account (over one 4 MB request)',
    target: 'sendOnly',
    body: {
      ...GOOD,
      attachments: [
        { name: 'a.bin', contentBase64: base64Of(2 * MB) },
        { name: 'b.bin', contentBase64: base64Of(2 * MB) },
      ],
    },
    status: 413,
    code: 'OUTBOX_MESSAGE_TOO_LARGE',
    details: { reason: 'inline_request_limit' },
  },
  {
    name: 'an unknown field',
    body: { ...GOOD, from: 'ceo@example.org' },
    status: 400,
    code: 'OUTBOX_FIELD_UNKNOWN',
    details: { field: 'from' },
  },
  { name: 'a JSON array body', body: [GOOD], status: 400, code: 'OUTBOX_BODY_INVALID' },
  {
    name: 'a JSON string body',
    raw: { text: '"hello"', contentType: 'application/json' },
    status: 400,
    code: 'OUTBOX_BODY_INVALID',
  },
  {
    name: 'invalid JSON',
    raw: { text: '{"to":', contentType: 'application/json' },
    status: 400,
    code: 'REQUEST_JSON_INVALID',
  },
  {
    name: 'wrong content type (text/plain)',
    raw: { text: JSON.stringify(GOOD), contentType: 'text/plain' },
    status: 415,
    code: 'REQUEST_CONTENT_TYPE_UNSUPPORTED',
  },
  {
    name: 'wrong content type (form)',
    raw: { text: 'to=a%40example.org&text=hi', contentType: 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'REQUEST_CONTENT_TYPE_UNSUPPORTED',
  },
  {
    name: 'sendAt in the past',
    body: { ...GOOD, sendAt: '2001-01-01T00:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IN_PAST',
  },
  {
    name: 'sendAt unparsable',
    body: { ...GOOD, sendAt: 'tomorrow morning' },
    status: 400,
    code: 'OUTBOX_SEND_AT_INVALID',
  },
  {
    name: 'sendAt without a time zone',
    body: { ...GOOD, sendAt: '2099-01-01T09:00:00' },
    status: 400,
    code: 'OUTBOX_SEND_AT_INVALID',
  },
  {
    name: 'sendAt more than a year ahead',
    body: { ...GOOD, sendAt: '2999-01-01T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_TOO_FAR',
  },
  {
    name: 'sendAt on 31 April',
    body: { ...GOOD, sendAt: '2027-04-31T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on 30 February',
    body: { ...GOOD, sendAt: '2027-02-30T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on 29 February of a common year',
    body: { ...GOOD, sendAt: '2027-02-29T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on 29 February of a century that is not a leap year',
    body: { ...GOOD, sendAt: '2100-02-29T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt in month 13',
    body: { ...GOOD, sendAt: '2027-13-01T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on day 00',
    body: { ...GOOD, sendAt: '2027-03-00T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt at hour 24',
    body: { ...GOOD, sendAt: '2027-01-10T24:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_time' },
  },
  {
    name: 'sendAt at hour 25',
    body: { ...GOOD, sendAt: '2027-01-10T25:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_time' },
  },
  {
    name: 'sendAt at minute 60',
    body: { ...GOOD, sendAt: '2027-01-10T09:60:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_time' },
  },
  {
    name: 'sendAt at second 60',
    body: { ...GOOD, sendAt: '2027-01-10T09:00:60Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_time' },
  },
  {
    name: 'sendAt with a +25:00 offset',
    body: { ...GOOD, sendAt: '2027-01-10T09:00:00+25:00' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_time' },
  },
  {
    name: 'sendAt on an impossible date in the past (refused as impossible first)',
    body: { ...GOOD, sendAt: '2001-02-30T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on an impossible date too far ahead (refused as impossible first)',
    body: { ...GOOD, sendAt: '2999-02-30T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_IMPOSSIBLE',
    details: { field: 'sendAt', reason: 'no_such_date' },
  },
  {
    name: 'sendAt on a real leap day (29 February 2096) is a date: refused only as too far',
    body: { ...GOOD, sendAt: '2096-02-29T09:00:00Z' },
    status: 400,
    code: 'OUTBOX_SEND_AT_TOO_FAR',
  },
  { name: 'an unknown account', target: 'unknown', body: GOOD, status: 404, code: 'ACCOUNT_NOT_FOUND' },
  { name: 'a malformed account id', target: 'malformed', body: GOOD, status: 400, code: 'REQUEST_INVALID' },
  { name: "another organisation's account", target: 'otherOrg', body: GOOD, status: 404, code: 'ACCOUNT_NOT_FOUND' },
  {
    name: 'a disconnected account',
    target: 'disconnected',
    body: GOOD,
    status: 409,
    code: 'OUTBOX_ACCOUNT_NOT_SENDABLE',
    details: { status: 'disconnected' },
  },
  {
    name: 'a mailbox that cannot send',
    target: 'unusable',
    body: GOOD,
    status: 409,
    code: 'OUTBOX_ACCOUNT_NOT_SENDABLE',
    details: { status: 'mailbox_unusable', reason: 'not_rest_enabled' },
  },
  {
    name: 'an Idempotency-Key with a space',
    body: GOOD,
    headers: { 'idempotency-key': 'two words' },
    status: 400,
    code: 'OUTBOX_IDEMPOTENCY_KEY_INVALID',
  },
  {
    name: 'an Idempotency-Key over 255 characters',
    body: GOOD,
    headers: { 'idempotency-key': 'k'.repeat(256) },
    status: 400,
    code: 'OUTBOX_IDEMPOTENCY_KEY_INVALID',
  },
  {
    name: 'eleven reply-to addresses',
    body: { ...GOOD, replyTo: addresses(11) },
    status: 400,
    code: 'OUTBOX_FIELD_INVALID',
  },
  { name: 'no API key', body: GOOD, headers: { authorization: '' }, status: 401, code: 'API_KEY_MISSING' },
];

for (const dialect of TEST_DIALECTS) {
  describe(`message API: validation, idempotency, listing [${dialect}]`, () => {
    let service: TestService;
    let client: ApiClient;
    let other: ApiClient;
    const accounts: Record<string, string> = {};

    before(async () => {
      service = await startTestService({
        dialect,
        // A relay that is never reached in this file: only acceptance is tested here.
        env: { SMTP_URL: 'smtp://127.0.0.1:9', SMTP_FROM: 'Acme <noreply@acme.example>' },
      });
      client = await createApiClient(service, 'Acme');
      other = await createApiClient(service, 'Globex');
      const organizationId = client.organization.id;
      accounts.sendOnly = (await seedAccount(service, { organizationId, ownerId: 'o1', email: 'one@contoso.com' })).id;
      accounts.warmup = (await seedAccount(service, { organizationId, ownerId: 'o2', email: 'two@contoso.com' })).id;
      await service.deps.db
        .updateTable('accounts')
        .set({
          permission_profile: 'warmup',
          granted_scopes: JSON.stringify(['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite']),
        })
        .where('id', '=', accounts.warmup)
        .execute();
      accounts.disconnected = (
        await seedAccount(service, {
          organizationId,
          ownerId: 'o3',
          email: 'three@contoso.com',
          status: 'disconnected',
        })
      ).id;
      accounts.unusable = (
        await seedAccount(service, {
          organizationId,
          ownerId: 'o4',
          email: 'four@contoso.com',
          status: 'mailbox_unusable',
          reason: 'not_rest_enabled',
        })
      ).id;
      accounts.otherOrg = (
        await seedAccount(service, { organizationId: other.organization.id, ownerId: 'o1', email: 'x@globex.com' })
      ).id;
      accounts.unknown = 'acc_00000000000000000000000000';
      accounts.malformed = 'not-an-account-id';
    });
    after(async () => {
      await service?.close();
    });

    const messageCount = async () =>
      Number(
        (
          await service.deps.db
            .selectFrom('outbox_messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it(`has at least 30 distinct bad inputs (${BAD_INPUTS.length})`, () => {
      assert.ok(BAD_INPUTS.length >= 30);
      assert.equal(new Set(BAD_INPUTS.map((each) => each.name)).size, BAD_INPUTS.length);
    });

    for (const bad of BAD_INPUTS) {
      it(`refuses ${bad.name}: ${bad.status} ${bad.code}, nothing queued`, async () => {
        const before = await snapshotDatabase(service);
        const path = `/v1/accounts/${accounts[bad.target ?? 'warmup']}/messages`;
        const headers = { authorization: `Bearer ${client.key}`, ...bad.headers };
        if (headers.authorization === '') delete (headers as Record<string, string>).authorization;
        const answer = bad.raw
          ? await callApi(service, 'POST', path, { ...headers, 'content-type': bad.raw.contentType }, bad.raw.text)
          : await callApi(service, 'POST', path, headers, bad.body);
        assert.equal(answer.status, bad.status, JSON.stringify(answer.body).slice(0, 300));
        assert.equal(answer.body.error.code, bad.code);
        assert.ok(answer.body.error.message.length > 10, 'says what to fix');
        for (const [key, value] of Object.entries(bad.details ?? {})) {
          assert.deepEqual(answer.body.error.details?.[key], value, `details.${key}`);
        }
        assert.equal(await messageCount(), 0);
        const after = await snapshotDatabase(service);
        for (const table of ['accounts', 'events', 'owners'] as const) assert.deepEqual(after[table], before[table]);
      });
    }

    it('documents every outbox code it answers with', () => {
      for (const bad of BAD_INPUTS) {
        if (bad.code.startsWith('OUTBOX_') || bad.code === 'IDEMPOTENCY_KEY_REUSED') {
          assert.equal(OUTBOX_ERRORS[bad.code as keyof typeof OUTBOX_ERRORS]?.status, bad.status, bad.code);
        }
      }
    });

    it('accepts a 5 MB attachment on a Mail.ReadWrite account (it will go through an upload session)', async () => {
      const answer = await client.call('POST', `/v1/accounts/${accounts.warmup}/messages`, {
        ...GOOD,
        attachments: [{ name: 'big.pdf', contentType: 'application/pdf', contentBase64: base64Of(5 * MB) }],
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body).slice(0, 300));
      assert.equal(answer.body.attachments[0].sizeBytes, 5 * MB);
    });

    it('Idempotency-Key: the same request returns the same message (200); another body is 409; scoped per organisation', async () => {
      const key = 'nudge-2030-01-01-owner-o1';
      const path = `/v1/accounts/${accounts.sendOnly}/messages`;
      const first = await client.call('POST', path, GOOD, { 'idempotency-key': key });
      assert.equal(first.status, 202);
      const again = await client.call(
        'POST',
        path,
        { text: 'Hi there', subject: 'Hello', to: 'candidate@example.org' },
        {
          'idempotency-key': key,
        },
      );
      assert.equal(again.status, 200, 'same body (keys in another order) is the same request');
      assert.equal(again.body.id, first.body.id);
      const changed = await client.call('POST', path, { ...GOOD, text: 'Something else' }, { 'idempotency-key': key });
      assert.equal(changed.status, 409);
      assert.equal(changed.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
      const elsewhere = await client.call('POST', `/v1/accounts/${accounts.warmup}/messages`, GOOD, {
        'idempotency-key': key,
      });
      assert.equal(elsewhere.status, 409, 'the same key for another account is another request');
      const otherOrg = await other.call('POST', `/v1/accounts/${accounts.otherOrg}/messages`, GOOD, {
        'idempotency-key': key,
      });
      assert.equal(otherOrg.status, 202, 'keys are per organisation');
      const rows = await service.deps.db
        .selectFrom('outbox_messages')
        .select('id')
        .where('idempotency_key', '=', key)
        .execute();
      assert.equal(rows.length, 2);
    });

    it('Idempotency-Key: concurrent identical requests make one message', async () => {
      const key = 'concurrent-key';
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          client.call('POST', `/v1/accounts/${accounts.sendOnly}/messages`, GOOD, { 'idempotency-key': key }),
        ),
      );
      const ids = new Set(answers.map((answer) => answer.body.id));
      assert.equal(ids.size, 1, JSON.stringify(answers.map((answer) => answer.body)));
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 200, 200, 200, 200, 202]);
    });

    it('GET /v1/messages/{id} and the list: filters, newest first, cursor pages, organisation scope', async () => {
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        const account = i % 2 === 0 ? accounts.sendOnly : accounts.warmup;
        const answer = await client.call('POST', `/v1/accounts/${account}/messages`, {
          ...GOOD,
          subject: `List ${i}`,
        });
        created.push(answer.body.id);
      }
      const one = await client.call('GET', `/v1/messages/${created[0]}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.subject, 'List 0');
      assert.equal(one.body.status, 'queued');
      assert.deepEqual(one.body.attempts, []);
      assert.deepEqual(one.body.to, [{ address: 'candidate@example.org' }]);

      // `after` is the cursor's name on every list route; `cursor`, its old name here, pages the same way.
      const pagesWith = async (name: 'after' | 'cursor') => {
        const seen: string[] = [];
        let next: string | null = null;
        do {
          const page: { body: { data: Array<{ id: string; subject: string }>; nextCursor: string | null } } =
            await client.call('GET', `/v1/messages?limit=2${next ? `&${name}=${next}` : ''}`);
          assert.ok(page.body.data.length <= 2);
          seen.push(...page.body.data.map((message) => message.id));
          next = page.body.nextCursor;
        } while (next);
        return seen;
      };
      const seen = await pagesWith('after');
      const sorted = [...seen].sort().reverse();
      assert.deepEqual(seen, sorted, 'newest first');
      for (const id of created) assert.ok(seen.includes(id));
      assert.deepEqual(await pagesWith('cursor'), seen);
      const conflicting = await client.call('GET', `/v1/messages?after=${seen[1]}&cursor=${seen[2]}`);
      assert.equal(conflicting.status, 400);
      assert.equal(conflicting.body.error.code, 'REQUEST_INVALID');

      const byAccount = await client.call('GET', `/v1/messages?accountId=${accounts.warmup}&limit=200`);
      assert.ok(byAccount.body.data.every((message: { accountId: string }) => message.accountId === accounts.warmup));
      const byOwner = await client.call('GET', '/v1/messages?ownerId=o1&status=queued&limit=200');
      assert.ok(byOwner.body.data.length >= 3);
      assert.ok(byOwner.body.data.every((message: { ownerId: string }) => message.ownerId === 'o1'));
      const badStatus = await client.call('GET', '/v1/messages?status=lost');
      assert.equal(badStatus.status, 400);
      assert.equal(badStatus.body.error.code, 'REQUEST_INVALID');

      const foreign = await other.call('GET', `/v1/messages/${created[0]}`);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.error.code, 'OUTBOX_MESSAGE_NOT_FOUND');
      const foreignList = await other.call('GET', '/v1/messages?limit=200');
      assert.ok(foreignList.body.data.every((message: { id: string }) => !created.includes(message.id)));
      const foreignCancel = await other.call('POST', `/v1/messages/${created[0]}/cancel`);
      assert.equal(foreignCancel.status, 404);
    });
  });
}

describe('message API description', () => {
  it('the OpenAPI body schema names exactly the fields the validator accepts', () => {
    assert.deepEqual(Object.keys(sendMessageBody.shape).sort(), [...MESSAGE_FIELDS].sort());
    const attachments = sendMessageBody.shape.attachments.unwrap();
    assert.deepEqual(Object.keys(attachments.element.shape).sort(), [...ATTACHMENT_FIELDS].sort());
  });
});

describe('message API without a default provider', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ dialect: 'sqlite' });
  });
  after(async () => {
    await service?.close();
  });

  it('an owner on the default provider gets 409 when no SMTP relay is configured, and nothing is queued', async () => {
    const client = await createApiClient(service, 'No relay');
    assert.equal((await client.call('PUT', '/v1/owners/someone/email-provider', { provider: 'default' })).status, 200);
    const answer = await client.call('POST', '/v1/owners/someone/messages', GOOD);
    assert.equal(answer.status, 409);
    assert.equal(answer.body.error.code, 'OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED');
    const rows = await service.deps.db.selectFrom('outbox_messages').select('id').execute();
    assert.equal(rows.length, 0);
  });
});
