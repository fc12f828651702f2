import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MIGRATION_TABLE, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../../src/db/open-database.js';
import type { Database } from '../../src/db/schema.js';
import { ServiceLifecycle } from '../../src/ops/lifecycle.js';
import { startOpsServer } from '../../src/ops/ops-server.js';
import { checkReadiness } from '../../src/ops/readiness.js';
import { Secret } from '../../src/platform/secret.js';
import { parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { TokenVault } from '../../src/vault/token-vault.js';
import { TEST_DIALECTS, testPostgresUrl } from '../support/databases.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { freePort } from '../support/ports.js';
import { startTestService, type TestService } from '../support/service.js';
import { deferred } from '../support/wait.js';

const TOKEN = 'ops-token-0123456789abcdef0123456789';

async function get(url: string, token?: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // /metrics is text, not JSON.
  }
  return { status: response.status, headers: response.headers, body };
}

describe('ops endpoints: who may read them', () => {
  let emulator: SeededEmulator;
  let open: TestService;
  let guarded: TestService;

  before(async () => {
    emulator = await startSeededEmulator();
    open = await startTestService({ sharedEmulator: emulator });
    guarded = await startTestService({ sharedEmulator: emulator, env: { MAILBRIDGE_METRICS_TOKEN: TOKEN } });
  });
  after(async () => {
    await open?.close();
    await guarded?.close();
    await emulator?.close();
  });

  it('without MAILBRIDGE_METRICS_TOKEN, PORT serves /healthz only: /readyz and /metrics do not exist there', async () => {
    assert.deepEqual((await get(`${open.url}/healthz`)).body, { status: 'ok' });
    for (const path of ['/readyz', '/metrics']) {
      const answer = await get(`${open.url}${path}`);
      assert.equal(answer.status, 404, path);
      assert.equal((answer.body as { error: { code: string } }).error.code, 'NOT_FOUND');
      // A token does not open what is not served.
      assert.equal((await get(`${open.url}${path}`, TOKEN)).status, 404, path);
    }
  });

  it('with a token, /readyz and /metrics on PORT need exactly that Bearer token', async () => {
    for (const path of ['/readyz', '/metrics']) {
      const missing = await get(`${guarded.url}${path}`);
      assert.equal(missing.status, 401, path);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="mailbridge-ops"');
      assert.equal((missing.body as { error: { code: string } }).error.code, 'OPS_UNAUTHORIZED');
      assert.equal((await get(`${guarded.url}${path}`, `${TOKEN}x`)).status, 401, `${path} with a longer token`);
      assert.equal((await get(`${guarded.url}${path}`, TOKEN.slice(0, -1))).status, 401, `${path} with a prefix`);
      const basic = await fetch(`${guarded.url}${path}`, { headers: { authorization: `Basic ${TOKEN}` } });
      assert.equal(basic.status, 401, `${path} with another scheme`);
      assert.equal((await get(`${guarded.url}${path}`, TOKEN)).status, 200, path);
    }
    assert.equal((await get(`${guarded.url}/healthz`)).status, 200, 'liveness stays public');
  });

  it('the ops listener serves them without a token when none is set, and /healthz; nothing else', async () => {
    const ops = await startOpsServer(open.deps, { port: 0, host: '127.0.0.1' });
    try {
      assert.equal((await get(`${ops.url}/healthz`)).status, 200);
      const ready = await get(`${ops.url}/readyz`);
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      const metrics = await get(`${ops.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(String(metrics.body), /^mailbridge_process_info\{role="all"\} 1$/m);
      assert.equal((await get(`${ops.url}/v1/accounts`)).status, 404, 'the API is not on the ops listener');
      assert.equal((await get(`${ops.url}/dashboard`)).status, 404, 'nor the dashboard');
    } finally {
      await ops.app.close();
    }
  });

  it('the ops listener asks for the token too when one is set', async () => {
    const ops = await startOpsServer(guarded.deps, { port: 0, host: '127.0.0.1' });
    try {
      assert.equal((await get(`${ops.url}/metrics`)).status, 401);
      assert.equal((await get(`${ops.url}/readyz`)).status, 401);
      assert.equal((await get(`${ops.url}/metrics`, TOKEN)).status, 200);
      assert.equal((await get(`${ops.url}/healthz`)).status, 200);
    } finally {
      await ops.app.close();
    }
  });
});

interface ReadyBody {
  status: string;
  failed?: string[];
  checks: Record<string, { ok: boolean; detail?: string }>;
}

for (const dialect of TEST_DIALECTS) {
  describe(`/readyz [${dialect}]`, () => {
    let service: TestService;
    const readyz = async () => {
      const answer = await get(`${service.url}/readyz`, TOKEN);
      return { status: answer.status, body: answer.body as ReadyBody };
    };

    before(async () => {
      service = await startTestService({ dialect, env: { MAILBRIDGE_METRICS_TOKEN: TOKEN } });
    });
    after(async () => {
      await service?.close();
    });

    it('is ready when the database answers, every migration is applied and the key ring matches', async () => {
      const answer = await readyz();
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, {
        status: 'ready',
        checks: { shutdown: { ok: true }, database: { ok: true }, migrations: { ok: true }, keyRing: { ok: true } },
      });
    });

    it('is not ready while a migration this build knows is missing from the database', async () => {
      const { db } = service.deps;
      const table = sql.table(DEFAULT_MIGRATION_TABLE);
      const last = await sql<{
        name: string;
        timestamp: string;
      }>`select name, timestamp from ${table} order by name desc limit 1`.execute(db);
      const row = last.rows[0];
      assert.ok(row);
      await sql`delete from ${table} where name = ${row.name}`.execute(db);
      try {
        const answer = await readyz();
        assert.equal(answer.status, 503);
        assert.equal(answer.body.status, 'not_ready');
        assert.deepEqual(answer.body.failed, ['migrations']);
        assert.equal(answer.body.checks.migrations?.detail, `pending migrations: ${row.name}`);
      } finally {
        await sql`insert into ${table} (name, timestamp) values (${row.name}, ${row.timestamp})`.execute(db);
      }
      assert.equal((await readyz()).status, 200);
    });

    it('is not ready when the database holds another check value for a key of the ring', async () => {
      const { db, vault } = service.deps;
      const keyId = vault.keyRing.activeKeyId;
      const stored = await db
        .selectFrom('vault_keys')
        .select('check_value')
        .where('key_id', '=', keyId)
        .executeTakeFirstOrThrow();
      await db.updateTable('vault_keys').set({ check_value: 'AAAA' }).where('key_id', '=', keyId).execute();
      try {
        const answer = await readyz();
        assert.equal(answer.status, 503);
        assert.deepEqual(answer.body.failed, ['keyRing']);
        assert.match(answer.body.checks.keyRing?.detail ?? '', /another key under id "test"/);
      } finally {
        await db
          .updateTable('vault_keys')
          .set({ check_value: stored.check_value })
          .where('key_id', '=', keyId)
          .execute();
      }
      assert.equal((await readyz()).status, 200);
    });

    it('turns 503 as soon as a shutdown begins, without touching the database', async () => {
      // A service of its own: draining cannot be undone.
      const draining = await startTestService({ dialect, env: { MAILBRIDGE_METRICS_TOKEN: TOKEN } });
      try {
        draining.deps.lifecycle.beginDrain();
        const answer = await get(`${draining.url}/readyz`, TOKEN);
        assert.equal(answer.status, 503);
        const body = answer.body as ReadyBody;
        assert.deepEqual(body.failed, ['shutdown', 'database', 'migrations', 'keyRing']);
        assert.deepEqual(body.checks.shutdown, { ok: false, detail: 'shutting down' });
        assert.equal(body.checks.database?.detail, 'not checked: shutting down');
        assert.equal((await get(`${draining.url}/healthz`)).status, 200, 'still alive');
      } finally {
        await draining.close();
      }
    });

    it('is not ready when the database is gone, and says which check failed (last: closes the database)', async () => {
      await service.database.close();
      const answer = await readyz();
      assert.equal(answer.status, 503);
      assert.equal(answer.body.status, 'not_ready');
      assert.deepEqual(answer.body.failed, ['database', 'migrations', 'keyRing']);
      assert.equal(answer.body.checks.database?.ok, false);
      assert.match(answer.body.checks.database?.detail ?? '', /^error/);
      assert.deepEqual(answer.body.checks.migrations, { ok: false, detail: 'not checked: database unavailable' });
      assert.deepEqual(answer.body.checks.shutdown, { ok: true });
      assert.equal((await get(`${service.url}/healthz`)).status, 200, 'liveness does not depend on the database');
    });
  });
}

describe('/readyz against a PostgreSQL server that does not answer', () => {
  it('is 503 (database) with the driver error code, and the other checks not run', async () => {
    // openDatabase refuses a server that does not answer, so the readiness inputs are built around a closed port.
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/test`;
    await assert.rejects(openDatabase({ dialect: 'postgres', url: new Secret(url) }), { code: 'DB_UNAVAILABLE' });
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
    });
    try {
      const vault = new TokenVault({ keyRing: parseKeyRingOrThrow(`k:${Buffer.alloc(32, 7).toString('base64')}`) });
      const readiness = await checkReadiness({ db, vault }, new ServiceLifecycle(), { timeoutMs: 1_000 });
      assert.equal(readiness.ready, false);
      assert.deepEqual(readiness.failed, ['database', 'migrations', 'keyRing']);
      assert.equal(readiness.checks.database.detail, 'error ECONNREFUSED');
    } finally {
      await db.destroy();
    }
  });
});

describe('/readyz against a PostgreSQL database that accepts but does not answer in time', () => {
  it('is 503 (database: no answer within the timeout) instead of hanging the probe', async () => {
    // A pool of one whose only connection an open transaction holds: the probe's `select 1` waits for it.
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: testPostgresUrl(), max: 1 }) }),
    });
    const held = deferred();
    const taken = deferred();
    const transaction = db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      taken.resolve();
      await held.promise;
    });
    try {
      await taken.promise;
      const vault = new TokenVault({ keyRing: parseKeyRingOrThrow(`k:${Buffer.alloc(32, 7).toString('base64')}`) });
      const readiness = await checkReadiness({ db, vault }, new ServiceLifecycle(), { timeoutMs: 300 });
      assert.equal(readiness.ready, false);
      assert.deepEqual(readiness.checks.database, { ok: false, detail: 'no answer within 300 ms' });
      assert.deepEqual(readiness.failed, ['database', 'migrations', 'keyRing']);
    } finally {
      held.resolve();
      await transaction;
      await db.destroy();
    }
  });
});
