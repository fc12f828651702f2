import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addFault } from '../../emulator/control/actions.js';
import { composeService } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load-config.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { lanesWithDueWork } from '../../src/outbox/pacing.js';
import { submitMessage } from '../../src/outbox/submit-message.js';
import { createLogger } from '../../src/platform/logger.js';
import { Secret } from '../../src/platform/secret.js';
import type { ServiceDeps } from '../../src/services.js';
import { parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { seedConnectedAccount } from '../dashboard/account-fixtures.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';
import { type ChildService, isListening, startChildService } from './support/child-service.js';

/**
 * SIGTERM to a real `mailbridge start` process while its worker holds a claimed outbox message that has not started
 * sending: the message is a recovery (its previous attempt's outcome was unknown, so this attempt first looks for it
 * in Sent Items), and the access token must be refreshed first, at a token endpoint that answers only after 6 s (an
 * emulator latency fault). The process must turn not-ready at once, stop after its grace period, give the message
 * back to the queue, and exit 0.
 */

const TOKEN = 'ops-token-0123456789abcdef0123456789';

describe('graceful shutdown of a real process', () => {
  let emulator: SeededEmulator;
  let dir: string;
  let deps: ServiceDeps;
  let closeSeeder: () => Promise<void>;
  let child: ChildService | undefined;
  const keys = `k1:${randomBytes(32).toString('base64')}`;
  let env: Record<string, string>;

  before(async () => {
    emulator = await startSeededEmulator({ urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN } });
    dir = mkdtempSync(join(tmpdir(), 'mailbridge-shutdown-'));
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'mailbridge.db')}`,
      MAILBRIDGE_KEYS: keys,
      MICROSOFT_CLIENT_ID: emulator.seed.app.clientId,
      MICROSOFT_CLIENT_SECRET: emulator.clientSecret,
      MICROSOFT_LOGIN_URL: emulator.url,
      MICROSOFT_GRAPH_URL: emulator.url,
      MAILBRIDGE_METRICS_TOKEN: TOKEN,
    };
    // The test's own view of the same database file, to seed it and to watch it.
    const config = loadConfig({ ...env, PUBLIC_URL: 'http://127.0.0.1:3999', LOG_LEVEL: 'silent' });
    const composed = await composeService({
      config,
      logger: createLogger(config),
      keyRing: parseKeyRingOrThrow(keys),
      microsoft: {
        clientId: emulator.seed.app.clientId,
        clientSecret: new Secret(emulator.clientSecret),
        tenant: 'common',
        routes: { login: emulator.url, graph: emulator.url },
        mode: 'microsoft',
      },
    });
    deps = composed.deps;
    closeSeeder = composed.close;
  });
  after(async () => {
    await child?.kill();
    await closeSeeder?.();
    await emulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns not ready, stops within the grace period, releases the claimed message and exits 0', async () => {
    const organization = await createOrganization(deps.db, deps.clock, { name: 'Acme' });
    const account = await seedConnectedAccount(deps, {
      organizationId: organization.id,
      ownerExternalId: 'megan',
      email: 'megan@contoso.com',
      scopes: ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'offline_access'],
      profile: 'warmup',
    });
    // The stored access token has expired: the attempt's first Graph request needs a refresh.
    await deps.db
      .updateTable('accounts')
      .set({ access_token_expires_at: Date.now() - 60_000 })
      .where('id', '=', account.id)
      .execute();
    const { message } = await submitMessage(
      deps,
      organization.id,
      { accountId: account.id },
      { to: 'alex@outlook.com', subject: 'Shutdown test', text: 'Hello' },
    );
    await deps.db.updateTable('outbox_messages').set({ recovery: 'lookup' }).where('id', '=', message.id).execute();
    addFault(emulator.ctx, { kind: 'latency', target: 'token', latencyMs: 6_000 });

    const [port, opsPort] = [await freePort(), await freePort()];
    child = startChildService('start', {
      ...env,
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      MAILBRIDGE_OPS_PORT: String(opsPort),
      // Shorter than the token endpoint's 6 s, so the stop cuts the attempt short; long enough that a loaded machine
      // still sees the draining state before the ops listener closes.
      MAILBRIDGE_SHUTDOWN_GRACE: '4s',
    });
    await child.waitForLog((log) => log.msg === 'mailbridge started');
    const attemptOf = () =>
      deps.db.selectFrom('outbox_attempts').selectAll().where('message_id', '=', message.id).execute();
    // The worker's first tick (5 s after start) claims the message and waits for the token endpoint.
    const [claimed] = await waitFor(
      'the claim',
      async () => {
        const rows = await attemptOf();
        return rows.length === 1 ? rows : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.equal(claimed?.outcome, 'claimed');
    const held = await deps.db
      .selectFrom('outbox_messages')
      .selectAll()
      .where('id', '=', message.id)
      .executeTakeFirstOrThrow();
    assert.equal(held.status, 'sending');
    assert.match(held.lease_owner ?? '', new RegExp(`:${child.child.pid}:`), 'leased by the child process');

    const ops = `http://127.0.0.1:${opsPort}`;
    assert.equal((await fetch(`${ops}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    child.child.kill('SIGTERM');
    // Not ready at once, while the grace period runs (the ops listener closes last).
    const draining = await waitFor(
      'a draining /readyz',
      async () => {
        const response = await fetch(`${ops}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const body = (await response.json()) as { failed?: string[] };
        return response.status === 503 ? body : undefined;
      },
      { timeoutMs: 3_500, intervalMs: 50 },
    );
    assert.deepEqual(draining.failed?.[0], 'shutdown');
    assert.equal((await fetch(`${ops}/healthz`)).status, 200, 'alive while draining');
    assert.equal(await isListening(port), false, 'PORT stopped accepting connections');

    assert.equal(await child.exited, 0);
    const logs = child.logs();
    const released = logs.find((log) => log.msg === 'shutdown: released claimed messages');
    assert.deepEqual(released?.messageIds, [message.id]);
    assert.ok(logs.some((log) => log.msg === 'shutdown complete after cutting work short'));

    const after = await deps.db
      .selectFrom('outbox_messages')
      .selectAll()
      .where('id', '=', message.id)
      .executeTakeFirstOrThrow();
    assert.equal(after.status, 'queued');
    assert.equal(after.lease_owner, null);
    assert.equal(after.lease_until, null);
    assert.equal(after.recovery, 'lookup', 'the next attempt still looks before it sends');
    const [abandoned] = await attemptOf();
    assert.equal(abandoned?.outcome, 'abandoned');
    assert.match(abandoned?.detail ?? '', /shut down before sending anything/);
    // Due now for any other worker, instead of after the 2-minute lease.
    assert.deepEqual(await lanesWithDueWork(deps.db, Date.now(), 10), [account.id]);
    // Nothing was sent: the emulator saw no Graph request from this account.
    assert.equal(emulator.ctx.world.deliveries.length, 0);
  });
});
