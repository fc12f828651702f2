import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MIGRATION_TABLE, sql } from 'kysely';
import { GENERATED_ADMIN_EMAIL } from '../../src/dashboard-auth/first-admin.js';
import { migrations } from '../../src/db/migrations/index.js';
import { MICROSOFT_GRAPH_ORIGIN, MICROSOFT_LOGIN_ORIGIN } from '../../src/microsoft/microsoft-routes.js';
import { DEFAULT_ORGANIZATION_ID } from '../../src/orgs/organizations.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { freePort } from '../support/ports.js';
import { type ChildService, isListening, startChildService } from './support/child-service.js';

/**
 * `mailbridge start | api | worker` as real processes (src/cli.ts through tsx), configured for a real Microsoft app
 * (the emulator stands in for Microsoft's hosts, so no process starts an embedded emulator of its own).
 */

const TOKEN = 'ops-token-0123456789abcdef0123456789';

function microsoftEnv(emulator: SeededEmulator): Record<string, string> {
  return {
    MICROSOFT_CLIENT_ID: emulator.seed.app.clientId,
    MICROSOFT_CLIENT_SECRET: emulator.clientSecret,
    MICROSOFT_LOGIN_URL: emulator.url,
    MICROSOFT_GRAPH_URL: emulator.url,
    MAILBRIDGE_METRICS_TOKEN: TOKEN,
  };
}

const started = (log: Record<string, unknown>) => log.msg === 'mailbridge started';

async function get(url: string, token?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: response.status, text: await response.text() };
}

describe('process roles', () => {
  let emulator: SeededEmulator;
  const children: ChildService[] = [];
  const dirs: string[] = [];

  before(async () => {
    emulator = await startSeededEmulator({ urls: { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN } });
  });
  after(async () => {
    await Promise.all(children.map((child) => child.kill()));
    await emulator?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('worker: never listens on PORT; /healthz, /readyz and /metrics on MAILBRIDGE_OPS_PORT; SIGTERM exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailbridge-ops-'));
    dirs.push(dir);
    const [port, opsPort] = [await freePort(), await freePort()];
    const worker = startChildService('worker', {
      ...microsoftEnv(emulator),
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      MAILBRIDGE_OPS_PORT: String(opsPort),
      DATABASE_URL: `sqlite:${join(dir, 'mailbridge.db')}`,
      MAILBRIDGE_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    });
    children.push(worker);
    const log = await worker.waitForLog(started);
    assert.equal(log.role, 'worker');
    assert.equal(log.url, undefined, 'no PORT listener');

    assert.equal(await isListening(port), false, 'nothing accepts connections on PORT');
    const ops = `http://127.0.0.1:${opsPort}`;
    assert.equal((await get(`${ops}/healthz`)).status, 200);
    assert.equal((await get(`${ops}/readyz`)).status, 401, 'the token applies on the ops port');
    const ready = await get(`${ops}/readyz`, TOKEN);
    assert.equal(ready.status, 200, ready.text);
    const metrics = await get(`${ops}/metrics`, TOKEN);
    assert.match(metrics.text, /^mailbridge_process_info\{role="worker"\} 1$/m);
    assert.match(metrics.text, /^mailbridge_outbox_messages\{state="queued"\} 0$/m);
    assert.equal((await get(`${ops}/v1/accounts`)).status, 404, 'no API on the ops port');
    assert.ok(!worker.lines.some((line) => line.includes('password:')), 'a worker seeds no dashboard admin');

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    assert.ok(worker.logs().some((entry) => entry.msg === 'shutdown complete'));
  });

  describe('side by side on one PostgreSQL database', () => {
    let database: TestDatabase;
    before(async () => {
      // Not migrated: the processes race for the migrations too.
      database = await openTestDatabase('postgres', { migrate: false });
    });
    after(async () => {
      await database?.close();
    });

    it('start, 2 × api and a worker start at once: migrations once, one default organisation, one generated admin', async () => {
      if (database.config.dialect !== 'postgres') throw new Error('expected PostgreSQL');
      const keys = `k1:${randomBytes(32).toString('base64')}`;
      const roles = ['start', 'api', 'api', 'worker'] as const;
      const ports = await Promise.all(roles.map(() => freePort()));
      const group = roles.map((role, index) =>
        startChildService(role, {
          ...microsoftEnv(emulator),
          PORT: String(ports[index]),
          PUBLIC_URL: `http://127.0.0.1:${ports[index]}`,
          DATABASE_URL: database.config.dialect === 'postgres' ? database.config.url.reveal() : '',
          MAILBRIDGE_KEYS: keys,
        }),
      );
      children.push(...group);
      await Promise.all(group.map((child) => child.waitForLog(started, 60_000)));

      const { db } = database;
      const applied = await sql<{
        n: number;
      }>`select count(*)::int as n from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(db);
      assert.equal(applied.rows[0]?.n, Object.keys(migrations).length);
      const organizations = await db.selectFrom('organizations').select('id').execute();
      assert.deepEqual(
        organizations.map((row) => row.id),
        [DEFAULT_ORGANIZATION_ID],
      );
      const users = await db.selectFrom('dashboard_users').select('email').execute();
      assert.deepEqual(
        users.map((row) => row.email),
        [GENERATED_ADMIN_EMAIL],
      );
      const printed = group.filter((child) => child.lines.some((line) => line.includes('password:')));
      assert.equal(printed.length, 1, 'exactly one process made the admin and printed its password');
      assert.equal(printed[0] === group[3], false, 'and it was not the worker');

      for (const [index, role] of roles.entries()) {
        const origin = `http://127.0.0.1:${ports[index]}`;
        if (role === 'worker') {
          assert.equal(await isListening(ports[index]!), false, 'the worker does not listen on PORT');
          continue;
        }
        assert.equal((await get(`${origin}/healthz`)).status, 200, role);
        const ready = await get(`${origin}/readyz`, TOKEN);
        assert.equal(ready.status, 200, `${role}: ${ready.text}`);
        const metrics = await get(`${origin}/metrics`, TOKEN);
        assert.match(
          metrics.text,
          new RegExp(`^mailbridge_process_info\\{role="${role === 'start' ? 'all' : role}"\\} 1$`, 'm'),
        );
      }

      for (const child of group) child.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all(group.map((child) => child.exited)), [0, 0, 0, 0]);
    });
  });
});
