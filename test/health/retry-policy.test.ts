import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isRetryable, type RetryDecision } from '../../src/health/retry-policy.js';
import {
  type ErrorEvidence,
  evidenceFromGraphError,
  evidenceFromNetworkError,
  evidenceFromTokenErrorResponse,
} from '../../src/microsoft/error-evidence.js';
import { aadTokenError, GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS, graphErrorBody } from '../microsoft/fixtures.js';

const fetchFailed = (code: string) =>
  Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
const graph = (status: number, code: string, headers?: Record<string, string>) =>
  evidenceFromGraphError(status, graphErrorBody(code, 'm'), headers);

const CASES: [string, ErrorEvidence, RetryDecision][] = [
  [
    'connection refused: never left',
    evidenceFromNetworkError(fetchFailed('ECONNREFUSED')),
    { retry: true, outcome: 'not_sent' },
  ],
  ['DNS failure: never left', evidenceFromNetworkError(fetchFailed('ENOTFOUND')), { retry: true, outcome: 'not_sent' }],
  [
    'connect timeout: never left',
    evidenceFromNetworkError(fetchFailed('UND_ERR_CONNECT_TIMEOUT')),
    { retry: true, outcome: 'not_sent' },
  ],
  [
    'connection reset: unknown, no blind retry',
    evidenceFromNetworkError(fetchFailed('ECONNRESET')),
    { retry: false, outcome: 'unknown' },
  ],
  [
    'socket closed: unknown',
    evidenceFromNetworkError(fetchFailed('UND_ERR_SOCKET')),
    { retry: false, outcome: 'unknown' },
  ],
  [
    'timeout after sending: unknown',
    evidenceFromNetworkError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    { retry: false, outcome: 'unknown' },
  ],
  [
    'headers timeout: unknown',
    evidenceFromNetworkError(fetchFailed('UND_ERR_HEADERS_TIMEOUT')),
    { retry: false, outcome: 'unknown' },
  ],
  [
    'documented 429 honours Retry-After 2.128',
    evidenceFromGraphError(429, GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS),
    { retry: true, afterMs: 2128, outcome: 'rejected' },
  ],
  [
    '429 without Retry-After: caller backs off',
    graph(429, 'ApplicationThrottled'),
    { retry: true, outcome: 'rejected' },
  ],
  [
    '503 with Retry-After',
    graph(503, 'ServiceNotAvailable', { 'retry-after': '5' }),
    { retry: true, afterMs: 5000, outcome: 'rejected' },
  ],
  [
    'sending limit: retry much later',
    graph(403, 'ErrorExceededMessageLimit'),
    { retry: true, afterMs: 3_600_000, outcome: 'rejected' },
  ],
  ['500: may have been accepted', graph(500, 'InternalServerError'), { retry: false, outcome: 'unknown' }],
  [
    '504 gateway timeout: may have been accepted',
    evidenceFromGraphError(504, ''),
    { retry: false, outcome: 'unknown' },
  ],
  [
    '400 invalid recipients: rejected for good',
    graph(400, 'ErrorInvalidRecipients'),
    { retry: false, outcome: 'rejected' },
  ],
  [
    '401: rejected (the token provider refreshes)',
    graph(401, 'InvalidAuthenticationToken'),
    { retry: false, outcome: 'rejected' },
  ],
  ['403 MailboxNotEnabledForRESTAPI', graph(404, 'MailboxNotEnabledForRESTAPI'), { retry: false, outcome: 'rejected' }],
  [
    'token refresh temporarily unavailable: the send never left, retry later',
    evidenceFromTokenErrorResponse(503, aadTokenError('temporarily_unavailable', 90033, 't'), { 'retry-after': '7' }),
    { retry: true, afterMs: 7000, outcome: 'not_sent' },
  ],
  [
    'token refresh says password changed: not sent, hold (no retry)',
    evidenceFromTokenErrorResponse(400, aadTokenError('invalid_grant', 50173, 't')),
    { retry: false, outcome: 'not_sent' },
  ],
  [
    'a 2xx with an unreadable body: accepted, so not repeated',
    { source: 'graph', httpStatus: 201, errorCodes: [], requestSent: 'yes' },
    { retry: false, outcome: 'unknown' },
  ],
];

describe('isRetryable', () => {
  for (const [name, evidence, expected] of CASES) {
    test(name, () => {
      assert.deepEqual(isRetryable(evidence), expected);
    });
  }
});
