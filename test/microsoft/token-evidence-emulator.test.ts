/**
 * The evidence parser and the health classifier on the emulator's real token-endpoint answers: a refresh after a
 * password change / session revocation, a revoked consent, an expired client secret, a wrong secret, a throttle.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueRefreshToken } from '../../emulator/state/tokens.js';
import { classifyHealth } from '../../src/health/classify-health.js';
import type { Health } from '../../src/health/health.js';
import { isRetryable } from '../../src/health/retry-policy.js';
import { type ErrorEvidence, evidenceFromTokenErrorResponse } from '../../src/microsoft/error-evidence.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { MAIL_SCOPES } from '../support/graph-token.js';

let emulator: SeededEmulator;

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${emulator.url}/_emulator${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  assert.ok(response.ok, `control ${method} ${path}: ${response.status} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

/** A refresh token for `email`, with the user's consent recorded, as a finished connect flow leaves it. */
async function refreshTokenFor(email: string): Promise<string> {
  const user = Object.values(emulator.ctx.world.users).find((u) => u.email === email);
  assert.ok(user, email);
  await control('PUT', `/users/${email}/consents/${emulator.seed.app.clientId}`, {
    scopes: ['openid', 'profile', 'email', 'offline_access', ...MAIL_SCOPES],
  });
  return issueRefreshToken(emulator.ctx, {
    clientId: emulator.seed.app.clientId,
    userId: user.id,
    scopes: ['offline_access', ...MAIL_SCOPES],
    sessionId: 'test-session',
  }).token;
}

async function refresh(refreshToken: string, clientSecret = emulator.clientSecret): Promise<ErrorEvidence | 'ok'> {
  const response = await fetch(`${emulator.url}/common/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: emulator.seed.app.clientId,
      client_secret: clientSecret,
      refresh_token: refreshToken,
      scope: `offline_access ${MAIL_SCOPES.map((s) => `https://graph.microsoft.com/${s}`).join(' ')}`,
    }),
  });
  const text = await response.text();
  if (response.ok) return 'ok';
  return evidenceFromTokenErrorResponse(response.status, text, response.headers);
}

function summary(health: Health): { status: string; reason?: string } {
  return 'reason' in health ? { status: health.status, reason: health.reason } : { status: health.status };
}

before(async () => {
  emulator = await startSeededEmulator();
});
after(async () => {
  await emulator?.close();
});

describe('token-endpoint evidence from the emulator', () => {
  test('a working refresh token refreshes', async () => {
    assert.equal(await refresh(await refreshTokenFor('megan@contoso.com')), 'ok');
  });

  test('sessions revoked (as a password change does): 50173 → password_changed', async () => {
    const token = await refreshTokenFor('megan@contoso.com');
    await control('POST', '/users/megan@contoso.com/revoke-sessions');
    const evidence = await refresh(token);
    assert.notEqual(evidence, 'ok');
    if (evidence === 'ok') return;
    assert.equal(evidence.error, 'invalid_grant');
    assert.deepEqual(evidence.errorCodes, [50173]);
    assert.ok(evidence.traceId && evidence.correlationId && evidence.timestamp);
    assert.deepEqual(summary(classifyHealth(evidence)), { status: 'reconnect_required', reason: 'password_changed' });
    assert.deepEqual(isRetryable(evidence), { retry: false, outcome: 'not_sent' });
  });

  test('consent removed by the user: 65001 → consent_revoked', async () => {
    const token = await refreshTokenFor('alex@outlook.com');
    await control('DELETE', `/users/alex@outlook.com/consents/${emulator.seed.app.clientId}`);
    const evidence = await refresh(token);
    if (evidence === 'ok') assert.fail('expected a failure');
    assert.ok(evidence.errorCodes.includes(65001), JSON.stringify(evidence));
    assert.deepEqual(summary(classifyHealth(evidence)), { status: 'reconnect_required', reason: 'consent_revoked' });
  });

  test('a wrong client secret: 7000215 → app_misconfigured, the user untouched', async () => {
    const token = await refreshTokenFor('adele@contoso.com');
    const evidence = await refresh(token, 'not-the-secret');
    if (evidence === 'ok') assert.fail('expected a failure');
    assert.equal(evidence.httpStatus, 401);
    assert.equal(evidence.error, 'invalid_client');
    assert.deepEqual(summary(classifyHealth(evidence)), {
      status: 'app_misconfigured',
      reason: 'client_secret_invalid',
    });
  });

  test('a throttled token endpoint: degraded with its Retry-After', async () => {
    const token = await refreshTokenFor('adele@contoso.com');
    await control('POST', '/faults', { kind: 'throttle429', target: 'token', count: 1, retryAfterSeconds: 3 });
    const evidence = await refresh(token);
    if (evidence === 'ok') assert.fail('expected a failure');
    assert.deepEqual(classifyHealth(evidence), {
      status: 'degraded',
      reason: 'throttled',
      retryAfterMs: 3000,
      evidence,
    });
    assert.deepEqual(isRetryable(evidence), { retry: true, afterMs: 3000, outcome: 'not_sent' });
  });

  test('the client secret expired: 7000222 → app_misconfigured client_secret_expired', async () => {
    const token = await refreshTokenFor('admin@contoso.com');
    const app = (await control('GET', `/apps/${emulator.seed.app.clientId}`)) as { secrets: { id: string }[] };
    for (const secret of app.secrets) {
      await control('POST', `/apps/${emulator.seed.app.clientId}/secrets/${secret.id}/expire`);
    }
    const evidence = await refresh(token);
    if (evidence === 'ok') assert.fail('expected a failure');
    assert.deepEqual(evidence.errorCodes, [7000222]);
    assert.deepEqual(summary(classifyHealth(evidence)), {
      status: 'app_misconfigured',
      reason: 'client_secret_expired',
    });
  });
});
