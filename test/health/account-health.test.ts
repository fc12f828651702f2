/**
 * `recordAccountHealth` and the operator alerts on SQLite and PostgreSQL, fed Microsoft-shaped evidence: status,
 * reason and structured evidence written, `account.status_changed` only on a real change, one `app.misconfigured`
 * alert (one event per organisation) with the accounts left as they are, `unknown` kept as such, a disconnected
 * account left alone.
 */
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import pino from 'pino';
import { recordAccountHealth } from '../../src/accounts/account-health.js';
import type { DbDialect } from '../../src/db/schema.js';
import type { AccountsTable } from '../../src/db/tables/accounts.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import {
  appCredentialsFingerprint,
  raiseAppMisconfiguredAlert,
  resolveAppMisconfiguredAlerts,
} from '../../src/health/app-alerts.js';
import { classifyHealth } from '../../src/health/classify-health.js';
import { raiseOperatorAlert } from '../../src/health/operator-alerts.js';
import { remediationFor } from '../../src/health/remediation.js';
import {
  evidenceFromGraphError,
  evidenceFromRedirectError,
  evidenceFromTokenErrorResponse,
} from '../../src/microsoft/error-evidence.js';
import { createOrganization, ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { ensureOwner } from '../../src/owners/owners.js';
import { ManualClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { Secret } from '../../src/platform/secret.js';
import type { ServiceDeps } from '../../src/services.js';
import { forEachDatabase, type TestDatabase } from '../support/databases.js';

/** A refresh refused after a password reset, as Microsoft answers it (description holding a would-be secret). */
const PASSWORD_CHANGED = evidenceFromTokenErrorResponse(400, {
  error: 'invalid_grant',
  error_description: 'AADSTS50173: The provided grant has expired due to it being revoked. refresh_token=M.C5secret',
  error_codes: [50173],
  trace_id: 'trace-1',
  correlation_id: 'corr-1',
  timestamp: '2025-01-01 00:00:00Z',
});
const SECRET_EXPIRED = evidenceFromTokenErrorResponse(401, {
  error: 'invalid_client',
  error_description: 'AADSTS7000222: The provided client secret keys for app are expired.',
  error_codes: [7000222],
});
const UNKNOWN = evidenceFromTokenErrorResponse(400, { error: 'invalid_grant', error_codes: [9999999] });

forEachDatabase('account health recording', (getDb: () => TestDatabase, dialect: DbDialect) => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const deps = () => ({
    clock,
    dialect,
    events: new EventRecorder({ clock }),
    logger: pino({ level: 'silent' }),
  });
  let account: AccountsTable;

  async function newAccount(organizationId: string): Promise<AccountsTable> {
    const { db } = getDb();
    const owner = await ensureOwner(db, clock, organizationId, `owner-${newId('x')}`);
    const now = clock.now();
    const row: AccountsTable = {
      id: newId('acc', clock),
      organization_id: organizationId,
      owner_id: owner.id,
      provider: 'microsoft',
      tenant_id: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      object_id: newId('oid'),
      email: 'megan@contoso.com',
      display_name: 'Megan',
      permission_profile: 'send',
      granted_scopes: '["User.Read","Mail.Send"]',
      status: 'connected',
      status_reason: null,
      status_evidence: null,
      status_changed_at: now,
      connected_at: now,
      last_refreshed_at: now,
      access_token_expires_at: now + 3600_000,
      refresh_token_issued_at: now,
      next_keepalive_at: now + 7 * 86_400_000,
      next_health_check_at: now + 6 * 3_600_000,
      refresh_failures: 0,
      refresh_retry_at: null,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto('accounts').values(row).execute();
    return row;
  }

  const reload = (id: string) =>
    getDb().db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const eventsOf = (type: string) =>
    getDb().db.selectFrom('events').selectAll().where('type', '=', type).orderBy('id').execute();

  beforeEach(async () => {
    const { db } = getDb();
    await db.deleteFrom('events').execute();
    await db.deleteFrom('operator_alerts').execute();
    const organization = await ensureDefaultOrganization(db, clock);
    account = await newAccount(organization.id);
  });

  it('writes status, reason and structured evidence, and records account.status_changed once', async () => {
    const { db } = getDb();
    const health = classifyHealth(PASSWORD_CHANGED);
    clock.advance(1000);
    const result = await recordAccountHealth(db, deps(), account, health);
    assert.deepEqual(result, {
      changed: true,
      status: 'reconnect_required',
      reason: 'password_changed',
      alertRaised: false,
    });
    const row = await reload(account.id);
    assert.equal(row.status, 'reconnect_required');
    assert.equal(row.status_reason, 'password_changed');
    assert.equal(row.status_changed_at, clock.now());
    const evidence = JSON.parse(row.status_evidence ?? '{}') as Record<string, unknown>;
    assert.deepEqual(evidence.errorCodes, [50173]);
    assert.equal(evidence.traceId, 'trace-1');
    assert.equal(evidence.description, undefined);
    assert.ok(!row.status_evidence?.includes('M.C5secret'), 'no description text is stored');

    const events = await eventsOf('account.status_changed');
    assert.equal(events.length, 1);
    const data = JSON.parse(events[0]?.data ?? '{}') as Record<string, unknown>;
    assert.equal(data.status, 'reconnect_required');
    assert.equal(data.reason, 'password_changed');
    assert.equal(data.previousStatus, 'connected');
    assert.deepEqual(data.remediation, remediationFor(health));
    assert.ok(events[0]?.owner_external_id?.startsWith('owner-'));
    assert.ok(!events[0]?.data.includes('M.C5secret'));

    // The same status and reason again: nothing new.
    clock.advance(1000);
    const again = await recordAccountHealth(db, deps(), row, classifyHealth(PASSWORD_CHANGED));
    assert.equal(again.changed, false);
    assert.equal((await eventsOf('account.status_changed')).length, 1);
    assert.equal((await reload(account.id)).status_changed_at, row.status_changed_at);
  });

  it('a reason change within a status is an event; the status_changed_at stays', async () => {
    const { db } = getDb();
    const throttled = classifyHealth(evidenceFromGraphError(429, { error: { code: 'TooManyRequests' } }));
    await recordAccountHealth(db, deps(), account, throttled);
    const degradedAt = clock.now();
    clock.advance(1000);
    const unavailable = classifyHealth(evidenceFromGraphError(503, { error: { code: 'ServiceNotAvailable' } }));
    const result = await recordAccountHealth(db, deps(), await reload(account.id), unavailable);
    assert.equal(result.changed, true);
    const row = await reload(account.id);
    assert.equal(row.status_reason, 'service_unavailable');
    assert.equal(row.status_changed_at, degradedAt);
    assert.equal((await eventsOf('account.status_changed')).length, 2);
  });

  it('app_misconfigured: one operator alert and one event per organisation; accounts untouched', async () => {
    const { db } = getDb();
    await createOrganization(db, clock, { name: 'Second' });
    const other = await newAccount(account.organization_id);
    const health = classifyHealth(SECRET_EXPIRED);
    assert.equal(health.status, 'app_misconfigured');
    const first = await recordAccountHealth(db, deps(), account, health);
    const second = await recordAccountHealth(db, deps(), other, health);
    assert.equal(first.alertRaised, true);
    assert.equal(second.alertRaised, false);
    for (const id of [account.id, other.id]) {
      const row = await reload(id);
      assert.equal(row.status, 'connected');
      assert.equal(row.status_evidence, null);
    }
    const alerts = await db.selectFrom('operator_alerts').selectAll().execute();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.kind, 'app.misconfigured');
    assert.equal(alerts[0]?.reason, 'client_secret_expired');
    const organizations = await db.selectFrom('organizations').select('id').execute();
    const events = await eventsOf('app.misconfigured');
    assert.equal(events.length, organizations.length);
    assert.deepEqual(new Set(events.map((e) => e.organization_id)), new Set(organizations.map((o) => o.id)));
    assert.equal((await eventsOf('account.status_changed')).length, 0);
  });

  it('concurrent alerts of one kind and reason open one', async () => {
    const { db } = getDb();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        raiseOperatorAlert(db, deps(), { kind: 'app.misconfigured', reason: 'app_not_found', detail: 'x' }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await db.selectFrom('operator_alerts').select('id').execute()).length, 1);
  });

  it('app alerts: keyed by the app credentials, refused from the front channel, resolved by the same credentials with app.recovered', async () => {
    const { db } = getDb();
    const problem = {
      reason: 'client_secret_expired' as const,
      remediation: remediationFor(classifyHealth(SECRET_EXPIRED)),
      evidence: SECRET_EXPIRED,
    };
    const withSecret = (secret: string) => ({
      ...deps(),
      microsoft: { clientId: 'client-1', clientSecret: new Secret(secret) } as ServiceDeps['microsoft'],
    });
    const forged = evidenceFromRedirectError(
      new URLSearchParams('error=invalid_client&error_description=AADSTS7000222%3a+expired&state=s'),
    );
    assert.equal(await raiseAppMisconfiguredAlert(db, withSecret('old'), { ...problem, evidence: forged }), false);
    assert.equal((await db.selectFrom('operator_alerts').select('id').execute()).length, 0);

    assert.equal(await raiseAppMisconfiguredAlert(db, withSecret('old'), problem), true);
    assert.equal(await raiseAppMisconfiguredAlert(db, withSecret('old'), problem), false, 'a repeat is deduplicated');
    assert.equal(
      await raiseAppMisconfiguredAlert(db, withSecret('new'), problem),
      true,
      'other credentials: a new one',
    );
    assert.equal(
      (await eventsOf('app.misconfigured')).length,
      2 * (await db.selectFrom('organizations').select('id').execute()).length,
    );

    clock.advance(1000);
    assert.equal(await resolveAppMisconfiguredAlerts(db, withSecret('new')), 1);
    assert.equal(await resolveAppMisconfiguredAlerts(db, withSecret('new')), 0, 'nothing more to resolve');
    const open = await db.selectFrom('operator_alerts').selectAll().where('resolved_at', 'is', null).execute();
    assert.equal(open.length, 1);
    assert.equal(
      open[0]!.credentials,
      appCredentialsFingerprint({ clientId: 'client-1', clientSecret: new Secret('old') }),
    );
    const recovered = await eventsOf('app.recovered');
    assert.equal(recovered.length, (await db.selectFrom('organizations').select('id').execute()).length);
    assert.deepEqual(JSON.parse(String(recovered[0]!.data)).reasons, ['client_secret_expired']);
  });

  it('unknown evidence is kept as unknown, with its evidence', async () => {
    const { db } = getDb();
    const health = classifyHealth(UNKNOWN);
    assert.equal(health.status, 'unknown');
    await recordAccountHealth(db, deps(), account, health);
    const row = await reload(account.id);
    assert.equal(row.status, 'unknown');
    assert.equal(row.status_reason, null);
    assert.deepEqual((JSON.parse(row.status_evidence ?? '{}') as { errorCodes: number[] }).errorCodes, [9999999]);
    // Recovering: connected, evidence cleared.
    await recordAccountHealth(db, deps(), row, { status: 'connected' });
    const recovered = await reload(account.id);
    assert.equal(recovered.status, 'connected');
    assert.equal(recovered.status_evidence, null);
    assert.deepEqual(
      (await eventsOf('account.status_changed')).map((e) => (JSON.parse(e.data) as { status: string }).status).sort(),
      ['connected', 'unknown'],
    );
  });

  it('a disconnected account stays disconnected', async () => {
    const { db } = getDb();
    await db.updateTable('accounts').set({ status: 'disconnected' }).where('id', '=', account.id).execute();
    const row = await reload(account.id);
    const result = await recordAccountHealth(db, deps(), row, classifyHealth(PASSWORD_CHANGED));
    assert.equal(result.changed, false);
    assert.equal((await reload(account.id)).status, 'disconnected');
    assert.equal((await eventsOf('account.status_changed')).length, 0);
  });
});
