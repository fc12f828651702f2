import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyHealth } from '../../src/health/classify-health.js';
import type { Health } from '../../src/health/health.js';
import {
  type ErrorEvidence,
  evidenceFromGraphError,
  evidenceFromNetworkError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
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
} from '../microsoft/fixtures.js';

type Expected = { status: Health['status']; reason?: string; retryAfterMs?: number };

function summary(health: Health): Expected {
  const out: Expected = { status: health.status };
  if ('reason' in health) out.reason = health.reason;
  if (health.status === 'degraded') out.retryAfterMs = health.retryAfterMs;
  return out;
}

const refresh = (status: number, body: unknown, headers?: Record<string, string>) =>
  evidenceFromTokenErrorResponse(status, body, headers);

/** Refresh-token grant answers, in Microsoft's JSON shape. @see docs/entra.md §1.4, §2 */
const REFRESH_CASES: [string, ErrorEvidence, Expected][] = [
  [
    '50173 password changed',
    refresh(400, aadTokenError('invalid_grant', 50173, 'The provided grant has expired due to it being revoked.')),
    { status: 'reconnect_required', reason: 'password_changed' },
  ],
  [
    '700082 refresh token expired (90 days inactive)',
    refresh(400, aadTokenError('invalid_grant', 700082, 'The refresh token has expired due to inactivity.')),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    // As Microsoft sends it (docs/entra.md §2): the code names the reason, not the generic suberror.
    '700082 with suberror bad_token',
    refresh(
      400,
      aadTokenError('invalid_grant', 700082, 'The refresh token has expired due to inactivity.', {
        suberror: 'bad_token',
      }),
    ),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    '700084 SPA refresh token expired',
    refresh(400, aadTokenError('invalid_grant', 700084, 'The refresh token was issued to a single page app.')),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    '700081 maximum lifetime',
    refresh(400, aadTokenError('invalid_grant', 700081, 'The refresh token has expired due to maximum lifetime.')),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    '70008 expired or revoked grant',
    refresh(
      400,
      aadTokenError('invalid_grant', 70008, 'The provided authorization code or refresh token has expired.'),
    ),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    '65001 consent revoked (invalid_grant + suberror consent_required)',
    refresh(
      400,
      aadTokenError('invalid_grant', 65001, 'The user or administrator has not consented to use the application.', {
        suberror: 'consent_required',
      }),
    ),
    { status: 'reconnect_required', reason: 'consent_revoked' },
  ],
  [
    '65001 consent revoked (consent_required)',
    refresh(400, aadTokenError('consent_required', 65001, 'The user or administrator has not consented.')),
    { status: 'reconnect_required', reason: 'consent_revoked' },
  ],
  [
    '50076 MFA required (invalid_grant + basic_action)',
    refresh(
      400,
      aadTokenError('invalid_grant', 50076, 'Due to a configuration change made by your administrator…', {
        suberror: 'basic_action',
      }),
    ),
    { status: 'reconnect_required', reason: 'mfa_required' },
  ],
  [
    'MSAL fixture: 50079 interaction_required with claims',
    refresh(400, MSAL_INTERACTION_REQUIRED_BODY),
    { status: 'reconnect_required', reason: 'mfa_required' },
  ],
  [
    '50078 presented MFA expired',
    refresh(400, aadTokenError('invalid_grant', 50078, 'Presented multi-factor authentication has expired.')),
    { status: 'reconnect_required', reason: 'mfa_required' },
  ],
  [
    '53003 Conditional Access',
    refresh(400, aadTokenError('invalid_grant', 53003, 'Access has been blocked by Conditional Access policies.')),
    { status: 'reconnect_required', reason: 'conditional_access' },
  ],
  [
    '530003 managed device',
    refresh(400, aadTokenError('invalid_grant', 530003, 'Your device is required to be managed.')),
    { status: 'reconnect_required', reason: 'conditional_access' },
  ],
  [
    '50034 user not found',
    refresh(400, aadTokenError('invalid_grant', 50034, 'The user account does not exist in the directory.')),
    { status: 'reconnect_required', reason: 'user_not_found' },
  ],
  [
    'MSAL fixture: 9002313 with suberror bad_token',
    refresh(400, MSAL_BAD_TOKEN_BODY),
    { status: 'reconnect_required', reason: 'bad_token' },
  ],
  [
    '70000 bad refresh token',
    refresh(400, aadTokenError('invalid_grant', 70000, 'Provided grant is invalid or malformed.')),
    { status: 'reconnect_required', reason: 'bad_token' },
  ],
  [
    '50055 password expired',
    refresh(400, aadTokenError('invalid_grant', 50055, 'The password is expired.')),
    { status: 'reconnect_required', reason: 'password_expired' },
  ],
  [
    'interaction_required with an unlisted code',
    refresh(400, aadTokenError('interaction_required', 12345678, 'Something interactive.')),
    { status: 'reconnect_required', reason: 'sign_in_required' },
  ],
  [
    'suberror token_expired alone',
    refresh(400, { error: 'invalid_grant', suberror: 'token_expired' }),
    { status: 'reconnect_required', reason: 'refresh_expired' },
  ],
  [
    '90094 on refresh: admin approval',
    refresh(400, aadTokenError('invalid_grant', 90094, 'Admin consent is required.')),
    { status: 'admin_approval_pending', reason: 'admin_approval_required' },
  ],
  [
    '7000222 client secret expired (invalid_client, 401)',
    refresh(401, aadTokenError('invalid_client', 7000222, 'The provided client secret keys are expired.')),
    { status: 'app_misconfigured', reason: 'client_secret_expired' },
  ],
  [
    '7000215 invalid client secret',
    refresh(401, aadTokenError('invalid_client', 7000215, 'Invalid client secret provided.')),
    { status: 'app_misconfigured', reason: 'client_secret_invalid' },
  ],
  [
    '700016 app not found (unauthorized_client)',
    refresh(400, aadTokenError('unauthorized_client', 700016, "Application with identifier 'x' was not found.")),
    { status: 'app_misconfigured', reason: 'app_not_found' },
  ],
  [
    'documented invalid_scope 70011',
    refresh(400, INVALID_SCOPE_BODY),
    { status: 'app_misconfigured', reason: 'invalid_scope' },
  ],
  [
    '500011 resource principal not found',
    refresh(400, aadTokenError('invalid_resource', 500011, 'The resource principal was not found.')),
    { status: 'app_misconfigured', reason: 'invalid_scope' },
  ],
  [
    '700025 public client sent a secret',
    refresh(
      400,
      aadTokenError(
        'invalid_client',
        700025,
        'Client is public so neither client_assertion nor client_secret should be presented.',
      ),
    ),
    { status: 'app_misconfigured', reason: 'public_client_secret' },
  ],
  [
    'invalid_client with an unlisted code',
    refresh(401, aadTokenError('invalid_client', 12345678, 'Something about the client.')),
    { status: 'app_misconfigured', reason: 'client_rejected' },
  ],
  [
    'temporarily_unavailable with Retry-After',
    refresh(503, aadTokenError('temporarily_unavailable', 90033, 'A transient error has occurred.'), {
      'retry-after': '5',
    }),
    { status: 'degraded', reason: 'service_unavailable', retryAfterMs: 5000 },
  ],
  [
    '429 from the token endpoint with Retry-After',
    refresh(429, aadTokenError('temporarily_unavailable', 90055, 'There are too many incoming requests.'), {
      'retry-after': '2.128',
    }),
    { status: 'degraded', reason: 'throttled', retryAfterMs: 2128 },
  ],
  // docs/graph.md §3.3: the token endpoint's throttle is AADSTS50196 with HTTP 400; whatever `error` comes with it,
  // it is a pause, never a dead grant.
  [
    '50196 client request loop (HTTP 400, invalid_request)',
    refresh(
      400,
      aadTokenError(
        'invalid_request',
        50196,
        'The server terminated an operation because it encountered a client request loop.',
      ),
    ),
    { status: 'degraded', reason: 'throttled', retryAfterMs: 30_000 },
  ],
  [
    '50196 client request loop (HTTP 400, invalid_grant)',
    refresh(
      400,
      aadTokenError(
        'invalid_grant',
        50196,
        'The server terminated an operation because it encountered a client request loop.',
      ),
    ),
    { status: 'degraded', reason: 'throttled', retryAfterMs: 30_000 },
  ],
  [
    '500 server_error without Retry-After: default wait',
    refresh(500, { error: 'server_error' }),
    { status: 'degraded', reason: 'server_error', retryAfterMs: 30_000 },
  ],
  [
    'a proxy page on 502',
    refresh(502, '<html>Bad gateway</html>'),
    { status: 'degraded', reason: 'server_error', retryAfterMs: 30_000 },
  ],
  [
    '50057 account disabled',
    refresh(400, aadTokenError('invalid_grant', 50057, 'The user account is disabled.')),
    { status: 'mailbox_unusable', reason: 'disabled' },
  ],
];

/** Anything unrecognised is kept as unknown, never a reconnect. */
const UNKNOWN_CASES: [string, ErrorEvidence][] = [
  ['invalid_grant with an unlisted code', refresh(400, aadTokenError('invalid_grant', 99999999, 'Something new.'))],
  [
    '9002313 without bad_token (our malformed request)',
    refresh(400, aadTokenError('invalid_request', 9002313, 'Malformed.')),
  ],
  ['54005 code already redeemed, on refresh', refresh(400, aadTokenError('invalid_grant', 54005, 'Already redeemed.'))],
  ['an error value nobody documented', refresh(400, { error: 'brand_new_error', error_codes: [123] })],
  ['400 with an empty body', refresh(400, '')],
  ['Graph 400 with a code we do not know', evidenceFromGraphError(400, graphErrorBody('ErrorSomethingNew', 'New.'))],
  ['Graph 409 without a body', evidenceFromGraphError(409, '')],
  [
    'authorize redirect access_denied (cancel)',
    evidenceFromRedirectError(new URLSearchParams('error=access_denied&error_subcode=cancel')),
  ],
];

const graph = (status: number, code: string, headers?: Record<string, string>) =>
  evidenceFromGraphError(status, graphErrorBody(code, `${code} message`), headers);

/** Graph answers. @see docs/graph.md §3.2 */
const GRAPH_CASES: [string, ErrorEvidence, Expected][] = [
  [
    'documented 429 with Retry-After 2.128',
    evidenceFromGraphError(429, GRAPH_THROTTLED_BODY, GRAPH_THROTTLED_HEADERS),
    { status: 'degraded', reason: 'throttled', retryAfterMs: 2128 },
  ],
  [
    '429 ApplicationThrottled without Retry-After',
    graph(429, 'ApplicationThrottled'),
    { status: 'degraded', reason: 'throttled', retryAfterMs: 30_000 },
  ],
  [
    '503 ServiceNotAvailable',
    graph(503, 'ServiceNotAvailable', { 'retry-after': '10' }),
    { status: 'degraded', reason: 'service_unavailable', retryAfterMs: 10_000 },
  ],
  [
    '504 gateway timeout',
    evidenceFromGraphError(504, ''),
    { status: 'degraded', reason: 'server_error', retryAfterMs: 30_000 },
  ],
  [
    '401 InvalidAuthenticationToken before a refresh: refresh and repeat',
    graph(401, 'InvalidAuthenticationToken'),
    { status: 'degraded', reason: 'access_token_rejected', retryAfterMs: 0 },
  ],
  [
    '403 ErrorAccessDenied',
    graph(403, 'ErrorAccessDenied'),
    { status: 'reconnect_required', reason: 'missing_scopes' },
  ],
  [
    '404 MailboxNotEnabledForRESTAPI',
    graph(404, 'MailboxNotEnabledForRESTAPI'),
    { status: 'mailbox_unusable', reason: 'not_rest_enabled' },
  ],
  ['403 ErrorSendAsDenied', graph(403, 'ErrorSendAsDenied'), { status: 'mailbox_unusable', reason: 'send_as_denied' }],
  ['ErrorQuotaExceeded', graph(507, 'ErrorQuotaExceeded'), { status: 'mailbox_unusable', reason: 'quota_exceeded' }],
  [
    'ErrorMessageSubmissionBlocked (restricted sender)',
    graph(403, 'ErrorMessageSubmissionBlocked'),
    { status: 'mailbox_unusable', reason: 'sending_blocked' },
  ],
  [
    'ErrorExceededMessageLimit: a rolling limit, not permanent',
    graph(403, 'ErrorExceededMessageLimit'),
    { status: 'degraded', reason: 'sending_limit_reached', retryAfterMs: 3_600_000 },
  ],
  [
    'ErrorSubmissionQuotaExceeded with Retry-After',
    graph(429, 'ErrorSubmissionQuotaExceeded', { 'retry-after': '600' }),
    { status: 'degraded', reason: 'sending_limit_reached', retryAfterMs: 600_000 },
  ],
  [
    '400 ErrorInvalidRecipients: the message, not the connection',
    graph(400, 'ErrorInvalidRecipients'),
    { status: 'connected' },
  ],
  ['404 ErrorItemNotFound', graph(404, 'ErrorItemNotFound'), { status: 'connected' }],
  ['400 InvalidInternetMessageHeader', graph(400, 'InvalidInternetMessageHeader'), { status: 'connected' }],
  ['400 InefficientFilter', graph(400, 'InefficientFilter'), { status: 'connected' }],
];

describe('classifyHealth: refresh-token grant answers', () => {
  for (const [name, evidence, expected] of REFRESH_CASES) {
    test(name, () => {
      assert.deepEqual(summary(classifyHealth(evidence)), expected);
    });
  }
});

describe('classifyHealth: Graph answers', () => {
  for (const [name, evidence, expected] of GRAPH_CASES) {
    test(name, () => {
      assert.deepEqual(summary(classifyHealth(evidence)), expected);
    });
  }

  test('401 InvalidAuthenticationToken after a fresh refresh: token_invalid', () => {
    const health = classifyHealth(graph(401, 'InvalidAuthenticationToken'), { afterFreshRefresh: true });
    assert.deepEqual(summary(health), { status: 'reconnect_required', reason: 'token_invalid' });
  });

  test('401 with a CAE claims challenge: claims_challenge, even before a refresh', () => {
    const evidence = evidenceFromGraphError(401, graphErrorBody('InvalidAuthenticationToken', 'claims'), {
      'www-authenticate': `Bearer realm="", error="insufficient_claims", claims="${Buffer.from('{"access_token":{}}').toString('base64')}"`,
    });
    assert.deepEqual(summary(classifyHealth(evidence)), { status: 'reconnect_required', reason: 'claims_challenge' });
  });
});

describe('classifyHealth: callbacks', () => {
  test('65001 at the authorize callback means admin approval, not consent revoked', () => {
    const evidence = evidenceFromRedirectError(
      authorizeErrorRedirect('invalid_client', 65001, 'The user or administrator has not consented.'),
    );
    assert.deepEqual(summary(classifyHealth(evidence)), {
      status: 'admin_approval_pending',
      reason: 'admin_consent_required',
    });
  });

  for (const [code, reason] of [
    [90094, 'admin_approval_required'],
    [90095, 'approval_requested'],
    [90093, 'user_consent_blocked'],
  ] as const) {
    test(`${code} at the authorize callback → ${reason}`, () => {
      const evidence = evidenceFromRedirectError(authorizeErrorRedirect('access_denied', code, 'Need admin approval.'));
      assert.deepEqual(summary(classifyHealth(evidence)), { status: 'admin_approval_pending', reason });
    });
  }
});

describe('classifyHealth: network failures', () => {
  test('connection refused and timeouts are transient', () => {
    const refused = evidenceFromNetworkError(
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      }),
    );
    assert.deepEqual(summary(classifyHealth(refused)), { status: 'degraded', reason: 'network', retryAfterMs: 10_000 });
    const timeout = evidenceFromNetworkError(new DOMException('timed out', 'TimeoutError'));
    assert.equal(classifyHealth(timeout).status, 'degraded');
  });
});

describe('classifyHealth: unknown evidence is kept, never a reconnect', () => {
  for (const [name, evidence] of UNKNOWN_CASES) {
    test(name, () => {
      const health = classifyHealth(evidence);
      assert.equal(health.status, 'unknown');
      assert.ok(health.status === 'unknown' && health.evidence === evidence, 'the evidence is kept as is');
    });
  }
});

describe('classifyHealth reads structured fields only', () => {
  test('a description that names a reconnect code does not change an unknown answer', () => {
    const evidence = refresh(400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: The provided grant has expired due to it being revoked.',
      error_codes: [99999999],
    });
    assert.equal(classifyHealth(evidence).status, 'unknown');
  });

  test('a secret-expired code wins over invalid_grant: the app, not the user, is at fault', () => {
    const evidence = refresh(400, { error: 'invalid_grant', error_codes: [7000222] });
    assert.deepEqual(summary(classifyHealth(evidence)), {
      status: 'app_misconfigured',
      reason: 'client_secret_expired',
    });
  });
});
