import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyConnectOutcome } from '../../src/health/classify-connect-outcome.js';
import type { ConnectOutcome } from '../../src/health/health.js';
import {
  type ErrorEvidence,
  evidenceFromNetworkError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
} from '../../src/microsoft/error-evidence.js';
import { aadTokenError, authorizeErrorRedirect, INVALID_SCOPE_BODY } from '../microsoft/fixtures.js';

function summary(outcome: ConnectOutcome): { outcome: string; reason?: string } {
  return 'reason' in outcome ? { outcome: outcome.outcome, reason: outcome.reason } : { outcome: outcome.outcome };
}

const redirect = (error: string, code: number, extra: Record<string, string> = {}) =>
  evidenceFromRedirectError(authorizeErrorRedirect(error, code, 'Text that is not read for decisions.', extra));
const codeExchange = (status: number, error: string, code: number) =>
  evidenceFromTokenErrorResponse(status, aadTokenError(error, code, 'Text.'));

const CASES: [string, ErrorEvidence, { outcome: string; reason?: string }][] = [
  [
    'user cancelled: access_denied + error_subcode=cancel',
    evidenceFromRedirectError(new URLSearchParams('error=access_denied&error_subcode=cancel&state=s')),
    { outcome: 'cancelled' },
  ],
  ['65004 user declined consent', redirect('access_denied', 65004), { outcome: 'declined' }],
  [
    'access_denied without cancel or code',
    evidenceFromRedirectError(new URLSearchParams('error=access_denied&state=s')),
    { outcome: 'declined' },
  ],
  [
    '90094 approval required',
    redirect('access_denied', 90094),
    { outcome: 'approval_required', reason: 'admin_approval_required' },
  ],
  [
    '90095 approval requested',
    redirect('access_denied', 90095),
    { outcome: 'approval_required', reason: 'approval_requested' },
  ],
  [
    '90093 user consent forbidden',
    redirect('access_denied', 90093),
    { outcome: 'approval_required', reason: 'user_consent_blocked' },
  ],
  [
    '65001 at the callback',
    redirect('consent_required', 65001),
    { outcome: 'approval_required', reason: 'admin_consent_required' },
  ],
  ['900941 risky app', redirect('access_denied', 900941), { outcome: 'approval_required', reason: 'risky_app' }],
  [
    // 700016 is shown on Microsoft's own page, never redirected: on a callback only `unauthorized_client` (an
    // authorize error, RFC 6749 §4.1.2.1) counts, and it opens no operator alert (connect-flow.ts).
    '700016 on a callback: only unauthorized_client counts',
    redirect('unauthorized_client', 700016),
    { outcome: 'app_misconfigured', reason: 'client_rejected' },
  ],
  [
    '700016 at the code exchange',
    codeExchange(400, 'unauthorized_client', 700016),
    { outcome: 'app_misconfigured', reason: 'app_not_found' },
  ],
  [
    '7000215 at the code exchange',
    codeExchange(401, 'invalid_client', 7000215),
    { outcome: 'app_misconfigured', reason: 'client_secret_invalid' },
  ],
  [
    '7000222 at the code exchange',
    codeExchange(401, 'invalid_client', 7000222),
    { outcome: 'app_misconfigured', reason: 'client_secret_expired' },
  ],
  // Microsoft never redirects 50011 to a reply URL it does not know: a callback carrying it is forged.
  ['50011 on a callback', redirect('invalid_request', 50011), { outcome: 'unknown' }],
  [
    'a forged invalid_client + AADSTS7000215 on a callback (issue 10 item 1)',
    redirect('invalid_client', 7000215),
    { outcome: 'unknown' },
  ],
  [
    '70011 invalid scope (the documented body)',
    evidenceFromTokenErrorResponse(400, INVALID_SCOPE_BODY),
    { outcome: 'app_misconfigured', reason: 'invalid_scope' },
  ],
  [
    '50194 single-tenant app on /common',
    redirect('invalid_request', 50194),
    { outcome: 'app_misconfigured', reason: 'audience_mismatch' },
  ],
  ['50020 wrong tenant kind', redirect('access_denied', 50020), { outcome: 'wrong_account_type' }],
  [
    '500208 not a valid login domain for the account type',
    redirect('invalid_request', 500208),
    { outcome: 'wrong_account_type' },
  ],
  ['50076 MFA', redirect('interaction_required', 50076), { outcome: 'sign_in_blocked', reason: 'mfa_required' }],
  [
    '50079 MFA enrollment',
    redirect('interaction_required', 50079),
    { outcome: 'sign_in_blocked', reason: 'mfa_required' },
  ],
  [
    '53003 Conditional Access',
    redirect('access_denied', 53003),
    { outcome: 'sign_in_blocked', reason: 'conditional_access' },
  ],
  ['50057 disabled', redirect('access_denied', 50057), { outcome: 'sign_in_blocked', reason: 'account_disabled' }],
  [
    '50034 user not found',
    redirect('invalid_request', 50034),
    { outcome: 'sign_in_blocked', reason: 'user_not_found' },
  ],
  ['50058 no session', redirect('login_required', 50058), { outcome: 'try_again', reason: 'sign_in_required' }],
  [
    '54005 code already redeemed',
    codeExchange(400, 'invalid_grant', 54005),
    { outcome: 'try_again', reason: 'code_expired' },
  ],
  ['70008 code expired', codeExchange(400, 'invalid_grant', 70008), { outcome: 'try_again', reason: 'code_expired' }],
  [
    'temporarily_unavailable at the callback',
    evidenceFromRedirectError(new URLSearchParams('error=temporarily_unavailable')),
    { outcome: 'try_again', reason: 'temporarily_unavailable' },
  ],
  [
    '503 at the code exchange',
    codeExchange(503, 'temporarily_unavailable', 90033),
    { outcome: 'try_again', reason: 'temporarily_unavailable' },
  ],
  [
    'network failure at the code exchange',
    evidenceFromNetworkError(Object.assign(new Error('reset'), { code: 'ECONNRESET' })),
    { outcome: 'try_again', reason: 'temporarily_unavailable' },
  ],
  ['an unlisted code with invalid_request', redirect('invalid_request', 99999999), { outcome: 'unknown' }],
  ['501481 PKCE mismatch (our bug)', codeExchange(400, 'invalid_grant', 501481), { outcome: 'unknown' }],
];

describe('classifyConnectOutcome', () => {
  for (const [name, evidence, expected] of CASES) {
    test(name, () => {
      const outcome = classifyConnectOutcome(evidence);
      assert.deepEqual(summary(outcome), expected);
      assert.equal(outcome.evidence, evidence, 'the evidence is kept');
    });
  }

  test('admin-consent callback: the admin declined (consent_required + AADSTS65004)', () => {
    const evidence = evidenceFromRedirectError(
      new URLSearchParams(
        'admin_consent=True&error=consent_required&error_description=AADSTS65004%3a+The+resource+owner+denied+the+request.&state=s',
      ),
    );
    assert.deepEqual(summary(classifyConnectOutcome(evidence)), { outcome: 'declined' });
  });

  test('operator misconfiguration that Microsoft redirects wins over a cancel: never blame the user', () => {
    const evidence = redirect('access_denied', 70011, { error_subcode: 'cancel' });
    assert.deepEqual(summary(classifyConnectOutcome(evidence)), {
      outcome: 'app_misconfigured',
      reason: 'invalid_scope',
    });
  });

  test('a token-endpoint-only code on a callback is not believed: the cancel stands', () => {
    const evidence = redirect('access_denied', 7000222, { error_subcode: 'cancel' });
    assert.deepEqual(summary(classifyConnectOutcome(evidence)), { outcome: 'cancelled' });
  });
});
