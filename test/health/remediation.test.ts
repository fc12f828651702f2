import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  ADMIN_APPROVAL_REASONS,
  ALL_CONNECT_OUTCOME_KEYS,
  ALL_HEALTH_KEYS,
  APP_MISCONFIGURED_REASONS,
  DEGRADED_REASONS,
  HEALTH_STATUSES,
  type Health,
  MAILBOX_UNUSABLE_REASONS,
  RECONNECT_REASONS,
} from '../../src/health/health.js';
import {
  CONNECT_OUTCOME_REMEDIATION,
  HEALTH_REMEDIATION,
  type Remediation,
  remediationFor,
  remediationForConnectOutcome,
} from '../../src/health/remediation.js';
import type { ErrorEvidence } from '../../src/microsoft/error-evidence.js';

const evidence: ErrorEvidence = { source: 'token_endpoint', errorCodes: [], requestSent: 'yes' };

function assertComplete(key: string, remediation: Remediation | undefined) {
  assert.ok(remediation, `${key} has no remediation`);
  for (const audience of ['title', 'user', 'operator'] as const) {
    assert.ok(remediation[audience].trim().length >= 5, `${key} has no ${audience} text`);
  }
}

/** Every status and reason, built as a Health value, so the check goes through `remediationFor`. */
function everyHealth(): Health[] {
  return [
    { status: 'connected' },
    { status: 'disconnected' },
    { status: 'unknown', evidence },
    ...DEGRADED_REASONS.map((reason): Health => ({ status: 'degraded', reason, retryAfterMs: 0, evidence })),
    ...RECONNECT_REASONS.map((reason): Health => ({ status: 'reconnect_required', reason, evidence })),
    ...ADMIN_APPROVAL_REASONS.map((reason): Health => ({ status: 'admin_approval_pending', reason, evidence })),
    ...APP_MISCONFIGURED_REASONS.map((reason): Health => ({ status: 'app_misconfigured', reason, evidence })),
    ...MAILBOX_UNUSABLE_REASONS.map((reason): Health => ({ status: 'mailbox_unusable', reason, evidence })),
  ];
}

describe('remediation', () => {
  test('every status and reason has a title, user text and operator text', () => {
    const all = everyHealth();
    assert.equal(all.length, ALL_HEALTH_KEYS.length);
    assert.deepEqual(new Set(all.map((h) => h.status)), new Set(HEALTH_STATUSES));
    for (const health of all)
      assertComplete(`${health.status}:${'reason' in health ? health.reason : ''}`, remediationFor(health));
  });

  test('the table has no entry beyond the known keys', () => {
    assert.deepEqual(Object.keys(HEALTH_REMEDIATION).sort(), [...ALL_HEALTH_KEYS].sort());
    assert.deepEqual(Object.keys(CONNECT_OUTCOME_REMEDIATION).sort(), [...ALL_CONNECT_OUTCOME_KEYS].sort());
  });

  test('every connect outcome has text for both audiences', () => {
    for (const key of ALL_CONNECT_OUTCOME_KEYS) assertComplete(key, CONNECT_OUTCOME_REMEDIATION[key]);
    assert.equal(
      remediationForConnectOutcome({ outcome: 'approval_required', reason: 'admin_approval_required', evidence }).title,
      'Approval required',
    );
  });

  test('app-level problems never ask the user to act; the operator gets the code and where to fix it', () => {
    for (const reason of APP_MISCONFIGURED_REASONS) {
      const text = remediationFor({ status: 'app_misconfigured', reason, evidence });
      assert.equal(text.user, "This service can't reach Microsoft right now; its operator has been told.");
      assert.doesNotMatch(text.user, /reconnect/i);
    }
    const expired = remediationFor({ status: 'app_misconfigured', reason: 'client_secret_expired', evidence });
    assert.match(expired.operator, /AADSTS7000222/);
    assert.match(expired.operator, /MICROSOFT_CLIENT_SECRET/);
    assert.match(expired.operator, /App registrations/);
  });

  test('password changed tells the user what happened and what to click', () => {
    const text = remediationFor({ status: 'reconnect_required', reason: 'password_changed', evidence });
    assert.equal(
      text.user,
      'Your Microsoft password changed, which signs out connected apps. Click Reconnect and sign in again.',
    );
  });

  test('transient problems never ask the user to reconnect', () => {
    for (const reason of DEGRADED_REASONS) {
      const text = remediationFor({ status: 'degraded', reason, retryAfterMs: 0, evidence });
      assert.doesNotMatch(text.user, /reconnect/i, reason);
    }
  });

  test('docs/remediation.md lists every status reason and connect outcome, each with a source column', () => {
    const doc = readFileSync(new URL('../../docs/remediation.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of doc.split('\n')) {
      const cells = line.split('|').map((cell) => cell.trim());
      const key = /^`([a-z_:]+)`$/.exec(cells[1] ?? '')?.[1];
      if (key) rows.set(`${rows.has(key) ? 'connect ' : ''}${key}`, cells);
    }
    for (const key of ALL_HEALTH_KEYS) assert.ok(rows.has(key), `${key} is not in docs/remediation.md`);
    for (const key of ALL_CONNECT_OUTCOME_KEYS) {
      assert.ok(rows.has(key) || rows.has(`connect ${key}`), `connect outcome ${key} is not in docs/remediation.md`);
    }
    for (const [key, cells] of rows) assert.ok((cells[3] ?? '').length > 0, `${key} has no source`);
  });
});
