/**
 * The Graph client on recorded Graph answers, through its one transport seam (`fetch`), plus real sockets for the
 * network failures. Integration against the emulator's Graph API: graph-client-emulator.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { GraphClient } from '../../src/graph/graph-client.js';
import { GraphError } from '../../src/graph/graph-error.js';
import { GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS, graphErrorBody } from '../microsoft/fixtures.js';

const BASE = 'https://graph.microsoft.com/v1.0';
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QtYWNjZXNzLXRva2VuIn0.secret-part';

interface Recorded {
  url: string;
  method: string;
  headers: Headers;
  body: string | Uint8Array | undefined;
}

/** Replays recorded answers in order and records each request as it went out. */
function replay(...answers: (() => Response)[]) {
  const requests: Recorded[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const body = init?.body;
    requests.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof body === 'string' || body instanceof Uint8Array ? body : undefined,
    });
    const next = answers.shift();
    if (next === undefined) throw new Error('no recorded answer left');
    return next();
  };
  return { fetch: fetchFn, requests };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', 'request-id': `req-${status}`, ...headers },
    });
const empty =
  (status: number, headers: Record<string, string> = {}) =>
  () =>
    new Response(null, { status, headers: { 'request-id': `req-${status}`, ...headers } });

async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GraphError, `expected a GraphError, got ${String(err)}`);
    assert.doesNotMatch(JSON.stringify({ ...err, message: err.message }), /secret-part/, 'the token leaked');
    assert.doesNotMatch(err.message, /secret-part/);
    return err;
  }
  assert.fail('expected a GraphError');
}

describe('GraphClient on recorded answers', () => {
  test('getMe: bearer token, client-request-id, and the request-id of the answer', async () => {
    const { fetch, requests } = replay(
      json(200, { id: 'oid-1', displayName: 'Adele Vance', mail: null, userPrincipalName: 'adele@contoso.com' }),
    );
    const client = new GraphClient({ baseUrl: `${BASE}/`, fetch });
    const me = await client.getMe(TOKEN);
    assert.equal(me.data.id, 'oid-1');
    assert.equal(me.data.mail, null);
    assert.equal(me.requestId, 'req-200');
    const [request] = requests;
    assert.equal(request?.url, `${BASE}/me`);
    assert.equal(request?.headers.get('authorization'), `Bearer ${TOKEN}`);
    assert.match(request?.headers.get('client-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(me.clientRequestId, request?.headers.get('client-request-id'));
  });

  test('sendMail: 202 with an empty body, saveToSentItems passed through', async () => {
    const { fetch, requests } = replay(empty(202));
    const client = new GraphClient({ baseUrl: BASE, fetch });
    const answer = await client.sendMail(
      TOKEN,
      {
        subject: 'Hello',
        body: { contentType: 'Text', content: 'Hi' },
        toRecipients: [{ emailAddress: { address: 'to@example.com' } }],
        replyTo: [{ emailAddress: { address: 'reply@example.com' } }],
      },
      { saveToSentItems: false },
    );
    assert.equal(answer.status, 202);
    assert.equal(answer.data, undefined);
    assert.equal(answer.requestId, 'req-202');
    const request = requests[0];
    assert.equal(request?.method, 'POST');
    assert.equal(request?.url, `${BASE}/me/sendMail`);
    assert.equal(request?.headers.get('content-type'), 'application/json');
    const sent = JSON.parse(String(request?.body)) as { saveToSentItems: boolean; message: { subject: string } };
    assert.equal(sent.saveToSentItems, false);
    assert.equal(sent.message.subject, 'Hello');
  });

  test('the documented 429 throws GRAPH_THROTTLED with Retry-After in ms and the request-id', async () => {
    const { fetch } = replay(json(429, GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS));
    const err = await graphErrorOf(new GraphClient({ baseUrl: BASE, fetch }).sendMail(TOKEN, { subject: 's' }));
    assert.equal(err.code, 'GRAPH_THROTTLED');
    assert.equal(err.status, 503);
    assert.equal(err.evidence.retryAfterMs, 2128);
    assert.equal(err.evidence.graphCode, 'TooManyRequests');
    assert.equal(err.evidence.requestId, 'b1a2c3d4-0000-4000-8000-000000000001');
    assert.equal(err.evidence.requestSent, 'yes');
    assert.equal(err.method, 'POST');
    assert.equal(err.path, '/v1.0/me/sendMail');
  });

  test('finer codes per status', async () => {
    const cases: [number, string, string][] = [
      [401, 'InvalidAuthenticationToken', 'GRAPH_UNAUTHORIZED'],
      [403, 'ErrorAccessDenied', 'GRAPH_FORBIDDEN'],
      [404, 'MailboxNotEnabledForRESTAPI', 'GRAPH_NOT_FOUND'],
      [400, 'ErrorInvalidRecipients', 'GRAPH_REQUEST_FAILED'],
      [503, 'ServiceNotAvailable', 'GRAPH_SERVICE_UNAVAILABLE'],
    ];
    for (const [status, graphCode, code] of cases) {
      const { fetch } = replay(json(status, graphErrorBody(graphCode, 'm')));
      const err = await graphErrorOf(new GraphClient({ baseUrl: BASE, fetch }).getMe(TOKEN));
      assert.equal(err.code, code);
      assert.equal(err.evidence.graphCode, graphCode);
      assert.equal(err.evidence.httpStatus, status);
    }
  });

  test('listMessages: OData query, Prefer header, nextLink followed on the same base only', async () => {
    const nextLink = `${BASE}/me/mailFolders/inbox/messages?$skip=2&$top=2`;
    const { fetch, requests } = replay(
      json(200, { value: [{ id: 'm1' }, { id: 'm2' }], '@odata.nextLink': nextLink }),
      json(200, { value: [{ id: 'm3' }] }),
    );
    const client = new GraphClient({ baseUrl: BASE, fetch, preferImmutableIds: true });
    const seen: string[] = [];
    for await (const message of client.iterateMessages(
      TOKEN,
      'inbox',
      { select: ['subject', 'from'], filter: "isRead eq false and subject eq 'a&b'", top: 2 },
      { bodyContentType: 'text' },
    )) {
      seen.push(message.id);
    }
    assert.deepEqual(seen, ['m1', 'm2', 'm3']);
    assert.equal(
      requests[0]?.url,
      `${BASE}/me/mailFolders/inbox/messages?$select=subject%2Cfrom&$filter=isRead%20eq%20false%20and%20subject%20eq%20'a%26b'&$top=2`,
    );
    assert.equal(requests[0]?.headers.get('prefer'), 'outlook.body-content-type="text", IdType="ImmutableId"');
    assert.equal(requests[1]?.url, nextLink);
  });

  test('a nextLink to another host is refused before anything is sent', async () => {
    const { fetch, requests } = replay();
    const client = new GraphClient({ baseUrl: BASE, fetch });
    const err = await graphErrorOf(client.listNextPage(TOKEN, 'https://evil.example/v1.0/me/messages?$skip=10'));
    assert.equal(err.code, 'GRAPH_UNTRUSTED_URL');
    assert.equal(err.evidence.requestSent, 'no');
    assert.equal(requests.length, 0);
  });

  test('moveMessage returns the message under its new id', async () => {
    const { fetch, requests } = replay(json(201, { id: 'new-id', parentFolderId: 'archive-id' }));
    const moved = await new GraphClient({ baseUrl: BASE, fetch }).moveMessage(TOKEN, 'old/id=', 'archive');
    assert.equal(moved.data.id, 'new-id');
    assert.equal(requests[0]?.url, `${BASE}/me/messages/old%2Fid%3D/move`);
    assert.deepEqual(JSON.parse(String(requests[0]?.body)), { destinationId: 'archive' });
  });

  test('upload session: chunks carry Content-Range and no Authorization header', async () => {
    const uploadUrl =
      'https://outlook.office.com/api/v2.0/Users/x/Messages/y/AttachmentSessions/z?authtoken=UPLOAD-CRED';
    const { fetch, requests } = replay(
      json(201, { uploadUrl, expirationDateTime: '2030-01-01T00:00:00Z', nextExpectedRanges: ['0-'] }),
      json(200, { expirationDateTime: '2030-01-01T00:00:00Z', nextExpectedRanges: ['4-'] }),
      json(200, { expirationDateTime: '2030-01-01T00:00:00Z', nextExpectedRanges: ['8-'] }),
      empty(201, { location: 'https://outlook.office.com/api/v2.0/Users/x/Messages/y/Attachments/a1' }),
    );
    const client = new GraphClient({ baseUrl: BASE, fetch });
    const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const last = await client.uploadLargeAttachment(
      TOKEN,
      'draft-1',
      { name: 'big.pdf', contentType: 'application/pdf', bytes },
      { chunkSize: 4 },
    );
    assert.deepEqual(last.data, {
      done: true,
      location: 'https://outlook.office.com/api/v2.0/Users/x/Messages/y/Attachments/a1',
    });
    assert.deepEqual(JSON.parse(String(requests[0]?.body)), {
      AttachmentItem: { attachmentType: 'file', name: 'big.pdf', size: 10, contentType: 'application/pdf' },
    });
    const puts = requests.slice(1);
    assert.deepEqual(
      puts.map((r) => r.headers.get('content-range')),
      ['bytes 0-3/10', 'bytes 4-7/10', 'bytes 8-9/10'],
    );
    for (const put of puts) {
      assert.equal(put.method, 'PUT');
      assert.equal(put.url, uploadUrl);
      assert.equal(put.headers.get('authorization'), null);
    }
  });

  test('a middle chunk answers nextExpectedRanges', async () => {
    const { fetch } = replay(json(200, { nextExpectedRanges: ['4-9'] }));
    const answer = await new GraphClient({ baseUrl: BASE, fetch }).uploadChunk(
      'https://upload.example/s?c=1',
      new Uint8Array(4),
      {
        start: 0,
        total: 10,
      },
    );
    assert.deepEqual(answer.data, { done: false, nextExpectedRanges: ['4-9'] });
  });

  test('an upload failure keeps the credential-bearing query out of the error', async () => {
    const { fetch } = replay(json(400, graphErrorBody('InvalidRequest', 'bad range')));
    const client = new GraphClient({ baseUrl: BASE, fetch });
    const err = await graphErrorOf(
      client.uploadChunk('https://upload.example/session?authtoken=UPLOAD-CRED', new Uint8Array(1), {
        start: 0,
        total: 1,
      }),
    );
    assert.equal(err.path, '/session');
    assert.doesNotMatch(`${err.message} ${JSON.stringify(err.details)}`, /UPLOAD-CRED/);
  });

  test('an http upload URL is refused when Graph is https', async () => {
    const { fetch, requests } = replay();
    const err = await graphErrorOf(
      new GraphClient({ baseUrl: BASE, fetch }).uploadChunk('http://upload.example/s', new Uint8Array(1), {
        start: 0,
        total: 1,
      }),
    );
    assert.equal(err.code, 'GRAPH_UNTRUSTED_URL');
    assert.equal(requests.length, 0);
  });

  test('a 2xx that is not JSON is GRAPH_INVALID_RESPONSE; the request was accepted', async () => {
    const { fetch } = replay(() => new Response('<html>ok</html>', { status: 200, headers: { 'request-id': 'r-1' } }));
    const err = await graphErrorOf(new GraphClient({ baseUrl: BASE, fetch }).getMe(TOKEN));
    assert.equal(err.code, 'GRAPH_INVALID_RESPONSE');
    assert.equal(err.evidence.requestSent, 'yes');
    assert.equal(err.evidence.requestId, 'r-1');
  });

  test('mailbox settings, folders and rules hit the documented paths', async () => {
    const { fetch, requests } = replay(
      json(200, { timeZone: 'UTC' }),
      json(200, { timeZone: 'Pacific Standard Time' }),
      json(200, { value: [{ id: 'f1', displayName: 'Inbox' }] }),
      json(201, { id: 'f2', displayName: 'Warmup' }),
      json(201, { id: 'r1', displayName: 'rule', sequence: 1, hasError: false, isReadOnly: false }),
      json(200, { value: [] }),
      json(200, { id: 'r1', displayName: 'renamed', sequence: 1 }),
      empty(204),
    );
    const client = new GraphClient({ baseUrl: BASE, fetch });
    await client.getMailboxSettings(TOKEN);
    await client.updateMailboxSettings(TOKEN, { timeZone: 'Pacific Standard Time' });
    await client.listMailFolders(TOKEN, { top: 50 }, { includeHiddenFolders: true });
    await client.createMailFolder(TOKEN, { displayName: 'Warmup' }, { parentFolderId: 'inbox' });
    const rule = await client.createMessageRule(TOKEN, {
      displayName: 'rule',
      sequence: 1,
      isEnabled: true,
      conditions: { headerContains: ['X-Mailbridge-Warmup'] },
      actions: { moveToFolder: 'f2', stopProcessingRules: true },
    });
    assert.equal(rule.status, 201);
    await client.listMessageRules(TOKEN);
    await client.updateMessageRule(TOKEN, 'r1', { displayName: 'renamed' });
    const deleted = await client.deleteMessageRule(TOKEN, 'r1');
    assert.equal(deleted.status, 204);
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.url.slice(BASE.length)}`),
      [
        'GET /me/mailboxSettings',
        'PATCH /me/mailboxSettings',
        'GET /me/mailFolders?$top=50&includeHiddenFolders=true',
        'POST /me/mailFolders/inbox/childFolders',
        'POST /me/mailFolders/inbox/messageRules',
        'GET /me/mailFolders/inbox/messageRules',
        'PATCH /me/mailFolders/inbox/messageRules/r1',
        'DELETE /me/mailFolders/inbox/messageRules/r1',
      ],
    );
  });
});

describe('GraphClient network failures (real sockets)', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });

  async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
  }

  test('connection refused: GRAPH_NETWORK_ERROR, not sent', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await graphErrorOf(new GraphClient({ baseUrl: `http://127.0.0.1:${port}/v1.0` }).sendMail(TOKEN, {}));
    assert.equal(err.code, 'GRAPH_NETWORK_ERROR');
    assert.equal(err.evidence.networkCode, 'ECONNREFUSED');
    assert.equal(err.evidence.requestSent, 'no');
  });

  test('no answer within timeoutMs: GRAPH_TIMEOUT, outcome unknown', async () => {
    const base = await listen(() => {
      // Accepts the request and never answers, like a send that hangs after Microsoft got it.
    });
    const err = await graphErrorOf(new GraphClient({ baseUrl: base, timeoutMs: 100 }).sendMail(TOKEN, {}));
    assert.equal(err.code, 'GRAPH_TIMEOUT');
    assert.equal(err.evidence.networkCode, 'TIMEOUT');
    assert.equal(err.evidence.requestSent, 'unknown');
  });

  test('connection dropped after the request arrived: unknown', async () => {
    const base = await listen((req) => {
      req.on('data', () => undefined);
      req.on('end', () => req.socket.destroy());
    });
    const err = await graphErrorOf(new GraphClient({ baseUrl: base }).sendMail(TOKEN, { subject: 'x' }));
    assert.equal(err.code, 'GRAPH_NETWORK_ERROR');
    assert.equal(err.evidence.requestSent, 'unknown');
  });
});
