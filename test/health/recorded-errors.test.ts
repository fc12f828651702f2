import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RECORDED_ERRORS, type RecordedError, type RecordedErrorName } from '../../emulator/recorded-errors.js';
import { classifyConnectOutcome } from '../../src/health/classify-connect-outcome.js';
import { classifyHealth } from '../../src/health/classify-health.js';
import { type ConnectOutcome, connectOutcomeKey, type Health, healthKey } from '../../src/health/health.js';
import { remediationFor } from '../../src/health/remediation.js';
import { isRetryable } from '../../src/health/retry-policy.js';
import {
  type ErrorEvidence,
  evidenceFromGraphError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
} from '../../src/microsoft/error-evidence.js';
import { aadTokenError, authorizeErrorRedirect, graphErrorBody } from '../microsoft/fixtures.js';

/**
 * Error responses Microsoft really sent (issue 15; issue 9 item 4), through mailbridge's classification. The bodies
 * are the emulator's recorded catalogue (emulator/recorded-errors.ts: Microsoft's status, code and wording, each with
 * its source), put in the shape each channel carries: a Graph error body, a token endpoint JSON body, or an error
 * redirect's query. The same catalogue is what the end-to-end tests make the emulator answer.
 */

function graph(name: RecordedErrorName): ErrorEvidence {
  const recorded: RecordedError = RECORDED_ERRORS[name];
  assert.equal(recorded.surface, 'graph');
  if (recorded.surface !== 'graph') throw new Error('not a Graph recording');
  return evidenceFromGraphError(recorded.status, graphErrorBody(recorded.code, recorded.message));
}

function identity(name: RecordedErrorName, channel: 'token' | 'authorize' | 'adminconsent'): ErrorEvidence {
  const recorded: RecordedError = RECORDED_ERRORS[name];
  if (recorded.surface !== 'identity') throw new Error('not an identity recording');
  const { error, code, description, suberror } = recorded.input;
  if (channel === 'token') {
    const status = recorded.status ?? (error === 'invalid_client' ? 401 : 400);
    return evidenceFromTokenErrorResponse(
      status,
      aadTokenError(error, code, description, suberror ? { suberror } : {}),
    );
  }
  const params = authorizeErrorRedirect(
    error,
    code,
    description,
    channel === 'adminconsent' ? { admin_consent: 'True' } : {},
  );
  return evidenceFromRedirectError(
    params,
    channel === 'adminconsent' ? 'admin_consent_redirect' : 'authorize_redirect',
  );
}

const health = (evidence: ErrorEvidence) => healthKey(classifyHealth(evidence));
const outcome = (evidence: ErrorEvidence) => connectOutcomeKey(classifyConnectOutcome(evidence));

describe('issue 15: recorded Graph errors', () => {
  const rows: [RecordedErrorName, string, ReturnType<typeof healthKey>][] = [
    // case 1: the mailbox still sends; only the message that needs a new name fails.
    ['named_property_quota', RECORDED_ERRORS.named_property_quota.source, 'connected'],
    // issue 9 item 4: a really full mailbox.
    ['mailbox_full', RECORDED_ERRORS.mailbox_full.source, 'mailbox_unusable:quota_exceeded'],
    // case 2: a policy block, not missing scopes.
    ['odata_disabled', RECORDED_ERRORS.odata_disabled.source, 'mailbox_unusable:api_access_blocked'],
    // case 3: no mailbox is an account status.
    ['mailbox_not_discovered', RECORDED_ERRORS.mailbox_not_discovered.source, 'mailbox_unusable:mailbox_not_found'],
    // case 7: 507 is not "try later": a person must free space.
    ['target_mailbox_quota', RECORDED_ERRORS.target_mailbox_quota.source, 'mailbox_unusable:quota_exceeded'],
    // issue 9 item 4: a blocked sender.
    ['submission_blocked', RECORDED_ERRORS.submission_blocked.source, 'mailbox_unusable:sending_blocked'],
  ];
  for (const [name, source, expected] of rows) {
    test(`${name} (${source}) → ${expected}`, () => {
      assert.equal(health(graph(name)), expected);
    });
  }

  test('case 1: the named-property refusal fails that message only, without a retry', () => {
    const evidence = graph('named_property_quota');
    assert.equal(evidence.graphDetail, 'named_property_quota');
    assert.deepEqual(isRetryable(evidence), { retry: false, outcome: 'rejected' });
  });

  test('the code alone keeps its meaning when the message is another one', () => {
    // The recorded message names the case; any other wording falls back to what the code alone means.
    assert.equal(
      health(
        evidenceFromGraphError(
          403,
          graphErrorBody('ErrorAccessDenied', 'Access is denied. Check credentials and try again.'),
        ),
      ),
      'reconnect_required:missing_scopes',
    );
    assert.equal(
      health(evidenceFromGraphError(403, graphErrorBody('ErrorQuotaExceeded', 'Cannot get ID from name. '))),
      'connected',
      'surrounding whitespace is not a different message',
    );
    assert.equal(health(evidenceFromGraphError(404, graphErrorBody('ResourceNotFound', 'Not found.'))), 'unknown');
  });
});

describe('issue 15: recorded identity errors', () => {
  const connectRows: [string, string, ErrorEvidence, ReturnType<typeof connectOutcomeKey>][] = [
    // case 4
    [
      'ca_device_platform at /authorize',
      RECORDED_ERRORS.ca_device_platform.source,
      identity('ca_device_platform', 'authorize'),
      'sign_in_blocked:conditional_access',
    ],
    // case 5
    [
      'unmanaged_tenant at /authorize',
      RECORDED_ERRORS.unmanaged_tenant.source,
      identity('unmanaged_tenant', 'authorize'),
      'sign_in_blocked:unmanaged_tenant',
    ],
    // case 6
    [
      'unmanaged_tenant_invalid_client at /authorize',
      RECORDED_ERRORS.unmanaged_tenant_invalid_client.source,
      identity('unmanaged_tenant_invalid_client', 'authorize'),
      'sign_in_blocked:unmanaged_tenant',
    ],
    // case 9
    [
      'admin_consent_other_tenant at /adminconsent',
      RECORDED_ERRORS.admin_consent_other_tenant.source,
      identity('admin_consent_other_tenant', 'adminconsent'),
      'wrong_account_type',
    ],
  ];
  for (const [name, source, evidence, expected] of connectRows) {
    test(`${name} (${source}) → ${expected}`, () => {
      assert.equal(outcome(evidence), expected);
    });
  }

  test('case 6 on the back channel: 650051 as invalid_client is the user’s tenant, never the app', () => {
    assert.equal(health(identity('unmanaged_tenant_invalid_client', 'token')), 'reconnect_required:unmanaged_tenant');
  });

  test(`case 8: 70043 (${RECORDED_ERRORS.sign_in_frequency.source}) → a sign-in frequency policy, not disuse`, () => {
    const found = classifyHealth(identity('sign_in_frequency', 'token'));
    assert.equal(healthKey(found), 'reconnect_required:sign_in_frequency');
    const text = remediationFor(found);
    assert.match(text.operator, /AADSTS70043/);
    assert.match(text.operator, /keep-alive cannot prevent it/);
    assert.match(text.operator, /recur every policy period/);
    assert.match(text.user, /again at the end of each period/);
  });
});

describe('issue 10 item 1: where an error can come from', () => {
  const forged = (error: string, code: number) =>
    evidenceFromRedirectError(
      authorizeErrorRedirect(error, code, 'Invalid client secret provided.'),
      'authorize_redirect',
    );

  test('token-endpoint-only codes on a callback are forged: never app-level', () => {
    for (const [error, code] of [
      ['invalid_client', 7000215],
      ['invalid_client', 7000222],
      ['invalid_client', 700025],
    ] as const) {
      const evidence = forged(error, code);
      const connect: ConnectOutcome = classifyConnectOutcome(evidence);
      const found: Health = classifyHealth(evidence);
      assert.equal(connect.outcome, 'unknown', `${error} ${code}`);
      assert.equal(found.status, 'unknown', `${error} ${code}`);
    }
  });

  test('the same codes from the token endpoint are the app’s', () => {
    const evidence = evidenceFromTokenErrorResponse(
      401,
      aadTokenError('invalid_client', 7000215, 'Invalid client secret provided.'),
    );
    assert.equal(outcome(evidence), 'app_misconfigured:client_secret_invalid');
    assert.equal(health(evidence), 'app_misconfigured:client_secret_invalid');
  });
});
