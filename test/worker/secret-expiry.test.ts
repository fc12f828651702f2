/**
 * MICROSOFT_CLIENT_SECRET_EXPIRES_AT drives an `app.secret_expiring` operator alert and event 30 days and again
 * 7 days before the secret expires, each once, through the worker's ticks; a rotated secret (new date) gets its
 * own warnings and the old ones resolve; starting inside 7 days raises only the 7-day warning.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkClientSecretExpiry } from '../../src/health/secret-expiry.js';
import { type BackgroundWork, startBackgroundWork } from '../../src/worker/background-work.js';
import { type LifecycleHarness, startLifecycleHarness } from '../tokens/support/lifecycle-harness.js';

const DAY_MS = 86_400_000;

describe('client secret expiry warnings', () => {
  let h: LifecycleHarness;
  let work: BackgroundWork;
  let expiresAt: number;

  const warnings = () =>
    h.deps.db
      .selectFrom('operator_alerts')
      .selectAll()
      .where('kind', '=', 'app.secret_expiring')
      .orderBy('reason')
      .execute();
  const events = async () =>
    (await h.deps.db.selectFrom('events').selectAll().where('type', '=', 'app.secret_expiring').execute()).map(
      (event) => JSON.parse(event.data) as { warning: string; daysLeft: number; expiresAt: string },
    );
  /** Moves the clock to `ms` before the expiry. */
  const moveTo = (msBefore: number) => h.advance((expiresAt - msBefore - h.deps.clock.now()) / 1000);

  before(async () => {
    const expiry = new Date(Date.now() + 40 * DAY_MS).toISOString();
    h = await startLifecycleHarness({
      dialect: 'sqlite',
      env: {
        // A real Microsoft app's configuration (the back channel still goes to the emulator).
        MICROSOFT_CLIENT_ID: '5f3c2d1e-8a4b-4c6d-9e7f-0a1b2c3d4e5f',
        MICROSOFT_CLIENT_SECRET: 'not-used-by-this-test',
        MICROSOFT_CLIENT_SECRET_EXPIRES_AT: expiry,
      },
    });
    const configured = h.config.microsoft.mode === 'microsoft' ? h.config.microsoft.clientSecretExpiresAt : undefined;
    assert.ok(configured !== undefined);
    expiresAt = configured;
    work = startBackgroundWork(h.deps, { autoStart: false });
  });
  after(async () => {
    await work?.stop();
    await h?.close();
  });

  test('30 days and 7 days before, once each', async () => {
    moveTo(31 * DAY_MS);
    await work.runOnce();
    assert.equal((await warnings()).length, 0, '31 days before: nothing yet');

    moveTo(30 * DAY_MS - 1000);
    await work.runOnce();
    await work.runOnce();
    moveTo(20 * DAY_MS);
    await work.runOnce();
    let alerts = await warnings();
    assert.equal(alerts.length, 1);
    assert.match(alerts[0]?.reason ?? '', /^30_days:/);
    assert.match(alerts[0]?.detail ?? '', /MICROSOFT_CLIENT_SECRET/);
    assert.deepEqual(
      (await events()).map((e) => [e.warning, e.daysLeft]),
      [['30_days', 30]],
    );

    moveTo(7 * DAY_MS - 1000);
    await work.runOnce();
    moveTo(DAY_MS);
    await work.runOnce();
    alerts = await warnings();
    assert.deepEqual(
      alerts.map((a) => a.reason.split(':')[0]),
      ['30_days', '7_days'],
    );
    const all = await events();
    assert.deepEqual(all.map((e) => e.warning).sort(), ['30_days', '7_days']);
    assert.equal(all.find((e) => e.warning === '7_days')?.daysLeft, 7);
    assert.equal(all[0]?.expiresAt, new Date(expiresAt).toISOString());

    // Past the expiry: no more warnings (the token endpoint's 7000222 takes over as app.misconfigured).
    moveTo(-DAY_MS);
    await work.runOnce();
    assert.equal((await events()).length, 2);
  });

  test('a rotated secret gets its own warnings; inside 7 days only the 7-day one; the old ones resolve', async () => {
    const newExpiry = h.deps.clock.now() + 5 * DAY_MS;
    const result = await checkClientSecretExpiry(h.deps, { expiresAt: newExpiry });
    assert.equal(result.raised, '7_days');
    assert.equal((await checkClientSecretExpiry(h.deps, { expiresAt: newExpiry })).raised, undefined);
    const open = (await warnings()).filter((alert) => alert.resolved_at === null);
    assert.equal(open.length, 1);
    assert.equal(open[0]?.reason, `7_days:${new Date(newExpiry).toISOString()}`);
  });
});
