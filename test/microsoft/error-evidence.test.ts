import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import {
  DESCRIPTION_MAX_LENGTH,
  evidenceFromGraphError,
  evidenceFromNetworkError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
  parseRetryAfterMs,
} from '../../src/microsoft/error-evidence.js';
import {
  aadTokenError,
  authorizeErrorRedirect,
  GRAPH_THROTTLED_BODY,
  GRAPH_THROTTLED_HEADERS,
  graphErrorBody,
  INVALID_SCOPE_BODY,
  MSAL_BAD_TOKEN_BODY,
  MSAL_INTERACTION_REQUIRED_BODY,
} from './fixtures.js';

describe('evidenceFromTokenErrorResponse', () => {
  test('keeps every structured field of the documented error body', () => {
    const evidence = evidenceFromTokenErrorResponse(400, INVALID_SCOPE_BODY, {
      'x-ms-request-id': 'req-1',
      'client-request-id': 'creq-1',
    });
    assert.deepEqual(evidence, {
      source: 'token_endpoint',
      httpStatus: 400,
      error: 'invalid_scope',
      errorCodes: [70011],
      traceId: '0000aaaa-11bb-cccc-dd22-eeeeee333333',
      correlationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
      timestamp: '2016-01-09 02:02:12Z',
      requestId: 'req-1',
      clientRequestId: 'creq-1',
      requestSent: 'yes',
      description:
        "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope https://example.contoso.com/activity.read is not valid.",
    });
  });

  test('MSAL fixtures: suberror and claims are kept', () => {
    const bad = evidenceFromTokenErrorResponse(400, MSAL_BAD_TOKEN_BODY);
    assert.equal(bad.error, 'invalid_grant');
    assert.equal(bad.suberror, 'bad_token');
    assert.deepEqual(bad.errorCodes, [9002313]);

    const mfa = evidenceFromTokenErrorResponse(400, JSON.stringify(MSAL_INTERACTION_REQUIRED_BODY));
    assert.equal(mfa.error, 'interaction_required');
    assert.deepEqual(mfa.errorCodes, [50079]);
    assert.match(mfa.claims ?? '', /"polids"/);
  });

  test('reads Retry-After from a Headers object and error_codes given as strings', () => {
    const headers = new Headers({ 'retry-after': '5' });
    const evidence = evidenceFromTokenErrorResponse(
      503,
      { error: 'temporarily_unavailable', error_codes: ['90033', 'x', 90033] },
      headers,
    );
    assert.equal(evidence.retryAfterMs, 5000);
    assert.deepEqual(evidence.errorCodes, [90033]);
  });

  test('a non-JSON body (a proxy page) keeps the status and nothing else', () => {
    const evidence = evidenceFromTokenErrorResponse(502, '<html><body>Bad gateway</body></html>');
    assert.deepEqual(evidence, { source: 'token_endpoint', httpStatus: 502, errorCodes: [], requestSent: 'yes' });
  });

  test('does not read error codes out of the description', () => {
    const evidence = evidenceFromTokenErrorResponse(400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: The provided grant has expired due to it being revoked.',
    });
    assert.deepEqual(evidence.errorCodes, []);
  });

  test('caps the human description and keeps its first line only', () => {
    const long = aadTokenError('invalid_grant', 70000, 'x'.repeat(1000));
    const evidence = evidenceFromTokenErrorResponse(400, long);
    assert.ok(evidence.description !== undefined);
    assert.ok(evidence.description.length <= DESCRIPTION_MAX_LENGTH);
    assert.doesNotMatch(evidence.description, /Trace ID/);
  });
});

describe('evidenceFromRedirectError', () => {
  test('authorize redirect: AADSTS number from error_uri and description; trailer ids', () => {
    const params = authorizeErrorRedirect('invalid_request', 90094, 'Admin consent is required for the permissions.');
    const evidence = evidenceFromRedirectError(params);
    assert.equal(evidence.source, 'authorize_redirect');
    assert.equal(evidence.error, 'invalid_request');
    assert.deepEqual(evidence.errorCodes, [90094]);
    assert.equal(evidence.traceId, '0000aaaa-11bb-cccc-dd22-eeeeee333333');
    assert.equal(evidence.correlationId, 'aaaa0000-bb11-2222-33cc-444444dddddd');
    assert.equal(evidence.timestamp, '2016-01-09 02:02:12Z');
    assert.equal(evidence.requestSent, 'yes');
  });

  test('the description alone is enough when there is no error_uri', () => {
    const params = new URLSearchParams({
      error: 'access_denied',
      error_description: 'AADSTS65004: User declined to consent to access the app.',
    });
    assert.deepEqual(evidenceFromRedirectError(params).errorCodes, [65004]);
  });

  test('user cancelled: error_subcode is kept, no codes', () => {
    const evidence = evidenceFromRedirectError(new URLSearchParams('error=access_denied&error_subcode=cancel&state=s'));
    assert.equal(evidence.error, 'access_denied');
    assert.equal(evidence.errorSubcode, 'cancel');
    assert.deepEqual(evidence.errorCodes, []);
  });

  test('admin consent redirect, URL-encoded as Microsoft sends it (AADSTS65004%3a+…)', () => {
    const params = new URLSearchParams(
      'admin_consent=True&error=consent_required&error_description=AADSTS65004%3a+The+resource+owner+or+authorization+server+denied+the+request.&state=s',
    );
    const evidence = evidenceFromRedirectError(params);
    assert.equal(evidence.source, 'admin_consent_redirect');
    assert.equal(evidence.error, 'consent_required');
    assert.deepEqual(evidence.errorCodes, [65004]);
  });

  test('suberror, claims, trace_id parameters (as MSAL parses them) win over the trailer', () => {
    const params = authorizeErrorRedirect('interaction_required', 50076, 'MFA needed.', {
      suberror: 'basic_action',
      claims: '{"access_token":{}}',
      trace_id: 'param-trace',
    });
    const evidence = evidenceFromRedirectError(params);
    assert.equal(evidence.suberror, 'basic_action');
    assert.equal(evidence.claims, '{"access_token":{}}');
    assert.equal(evidence.traceId, 'param-trace');
  });
});

describe('evidenceFromGraphError', () => {
  test('the documented 429: fractional Retry-After in ms, codes and request-id', () => {
    const evidence = evidenceFromGraphError(429, GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS);
    assert.equal(evidence.source, 'graph');
    assert.equal(evidence.httpStatus, 429);
    assert.equal(evidence.graphCode, 'TooManyRequests');
    assert.equal(evidence.innerErrorCode, '429');
    assert.equal(evidence.retryAfterMs, 2128);
    assert.equal(evidence.requestId, 'b1a2c3d4-0000-4000-8000-000000000001');
    assert.equal(evidence.clientRequestId, 'c1a2c3d4-0000-4000-8000-000000000002');
    assert.equal(evidence.timestamp, '2024-05-01T10:00:00');
    assert.equal(evidence.description, 'Please retry again later.');
  });

  test('request-id falls back to innerError when the header is missing', () => {
    const evidence = evidenceFromGraphError(
      404,
      JSON.stringify(
        graphErrorBody(
          'MailboxNotEnabledForRESTAPI',
          'The mailbox is either inactive, soft-deleted, or is hosted on-premise.',
        ),
      ),
    );
    assert.equal(evidence.graphCode, 'MailboxNotEnabledForRESTAPI');
    assert.equal(evidence.requestId, 'b1a2c3d4-0000-4000-8000-000000000001');
  });

  test('a CAE claims challenge in WWW-Authenticate: error and decoded claims', () => {
    const claims = '{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}';
    const header = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"`;
    const evidence = evidenceFromGraphError(
      401,
      graphErrorBody('InvalidAuthenticationToken', 'Continuous access evaluation resulted in claims challenge'),
      {
        'www-authenticate': header,
      },
    );
    assert.equal(evidence.error, 'insufficient_claims');
    assert.equal(evidence.claims, claims);
  });

  test('an empty body keeps status and headers', () => {
    const evidence = evidenceFromGraphError(503, '', new Headers({ 'retry-after': '10', 'request-id': 'r' }));
    assert.deepEqual(evidence, {
      source: 'graph',
      httpStatus: 503,
      errorCodes: [],
      requestId: 'r',
      retryAfterMs: 10_000,
      requestSent: 'yes',
    });
  });
});

describe('parseRetryAfterMs', () => {
  test('seconds, fractional seconds, HTTP dates against the response date, garbage', () => {
    assert.equal(parseRetryAfterMs('2'), 2000);
    assert.equal(parseRetryAfterMs('2.128'), 2128);
    assert.equal(parseRetryAfterMs(' 0 '), 0);
    assert.equal(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT', 'Wed, 21 Oct 2015 07:28:00 GMT'), 30_000);
    assert.equal(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT'), undefined);
    assert.equal(parseRetryAfterMs('-1'), undefined);
    assert.equal(parseRetryAfterMs('soon'), undefined);
    assert.equal(parseRetryAfterMs(undefined), undefined);
  });
});

describe('evidenceFromNetworkError (real sockets)', () => {
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
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function failureOf(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (err) {
      return err;
    }
    assert.fail('expected the request to fail');
  }

  test('connection refused: the request was not sent', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await failureOf(fetch(`http://127.0.0.1:${port}/`));
    const evidence = evidenceFromNetworkError(err);
    assert.equal(evidence.source, 'network');
    assert.equal(evidence.networkCode, 'ECONNREFUSED');
    assert.equal(evidence.requestSent, 'no');
  });

  test('connection dropped after the request arrived: unknown', async () => {
    const url = await listen((req) => {
      req.socket.destroy();
    });
    const err = await failureOf(fetch(`${url}/sendMail`, { method: 'POST', body: '{}' }));
    const evidence = evidenceFromNetworkError(err);
    assert.ok(
      ['UND_ERR_SOCKET', 'ECONNRESET'].includes(evidence.networkCode ?? ''),
      `networkCode ${evidence.networkCode}`,
    );
    assert.equal(evidence.requestSent, 'unknown');
  });

  test('timeout while waiting for the answer: TIMEOUT, unknown', async () => {
    const url = await listen(() => {
      // Never answers.
    });
    const err = await failureOf(fetch(url, { signal: AbortSignal.timeout(50) }));
    const evidence = evidenceFromNetworkError(err);
    assert.equal(evidence.networkCode, 'TIMEOUT');
    assert.equal(evidence.requestSent, 'unknown');
  });

  test('URLs are cut out of the human description', () => {
    const evidence = evidenceFromNetworkError(
      new TypeError('Invalid URL https://upload.example/session?authtoken=SECRET-TOKEN'),
    );
    assert.doesNotMatch(evidence.description ?? '', /SECRET-TOKEN/);
    assert.equal(evidence.networkCode, 'UNKNOWN');
  });
});
