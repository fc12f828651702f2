import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseApiKeysCreateArgsOrThrow, runApiKeysCreate } from '../../src/cli/api-keys-create.js';
import { runApiKeysList, runApiKeysRevoke } from '../../src/cli/api-keys-manage.js';
import { loadConfig } from '../../src/config/load-config.js';
import { AppError } from '../../src/errors/app-error.js';
import { authenticateApiKey } from '../../src/orgs/api-keys.js';
import {
  DEFAULT_ORGANIZATION_ID,
  ensureDefaultOrganization,
  findOrganizationOrThrow,
} from '../../src/orgs/organizations.js';
import { systemClock } from '../../src/platform/clock.js';
import { openTestDatabase, TEST_DIALECTS, type TestDatabase } from '../support/databases.js';

const root = new URL('../../', import.meta.url).pathname;

/** Runs the real command line (`src/cli.ts`) in a child process against the test database. */
function runCli(args: string[], databaseUrl: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The same command in this process (fast), for the cases that need no process boundary. */
async function runInProcess(args: string[], database: TestDatabase): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (text: string) => void) =>
    new Writable({
      write: (chunk, _enc, done) => {
        write(String(chunk));
        done();
      },
    });
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' });
  await runApiKeysCreate({ ...config, database: database.config }, args, {
    stdout: sink((text) => {
      stdout += text;
    }),
    stderr: sink((text) => {
      stderr += text;
    }),
  });
  return { stdout, stderr };
}

for (const dialect of TEST_DIALECTS) {
  describe(`mailbridge api-keys create [${dialect}]`, () => {
    let database: TestDatabase;
    let url: string;

    before(async () => {
      database = await openTestDatabase(dialect, { migrate: false });
      url = database.config.dialect === 'sqlite' ? `sqlite:${database.config.path}` : database.config.url.reveal();
    });
    after(() => database.close());

    it('creates the organisation, prints the key once on stdout only, and the key authenticates', async () => {
      const run = await runCli(
        ['api-keys', 'create', '--org', 'Acme Recruiting', '--return-url', 'https://app.acme.example/connected'],
        url,
      );
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, 'stdout holds the key and nothing else');
      const key = lines[0] ?? '';
      assert.match(key, /^mb_live_[A-Za-z0-9_-]{43}$/);
      assert.ok(!run.stderr.includes(key.slice(8)), 'the key is not repeated on stderr');
      assert.match(run.stderr, /Created organisation "Acme Recruiting"/);
      assert.match(run.stderr, /shown only this once/);

      const auth = await authenticateApiKey(database.db, systemClock, key);
      assert.ok(auth);
      const org = await findOrganizationOrThrow(database.db, auth.organizationId);
      assert.equal(org.name, 'Acme Recruiting');
      assert.deepEqual(org.allowedReturnUrls, ['https://app.acme.example/connected']);
      const rows = await database.db.selectFrom('api_keys').selectAll().execute();
      assert.ok(!JSON.stringify(rows).includes(key.slice(8)), 'the key is stored only as a hash');
    });

    it('reuses the organisation by name, adds return URLs, and issues a different key', async () => {
      const first = await runCli(['api-keys', 'create', '--org=Acme Recruiting'], url);
      const second = await runCli(
        [
          'api-keys',
          'create',
          '--org',
          'Acme Recruiting',
          '--return-url',
          'http://localhost:5173/back',
          '--name',
          'ci',
        ],
        url,
      );
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /Using organisation "Acme Recruiting"/);
      const a = await authenticateApiKey(database.db, systemClock, first.stdout.trim());
      const b = await authenticateApiKey(database.db, systemClock, second.stdout.trim());
      assert.ok(a && b);
      assert.notEqual(first.stdout.trim(), second.stdout.trim());
      assert.equal(a.organizationId, b.organizationId);
      const org = await findOrganizationOrThrow(database.db, a.organizationId);
      assert.deepEqual(org.allowedReturnUrls, ['https://app.acme.example/connected', 'http://localhost:5173/back']);
      const named = await database.db
        .selectFrom('api_keys')
        .select('name')
        .where('id', '=', b.apiKeyId)
        .executeTakeFirst();
      assert.equal(named?.name, 'ci');
    });

    it('"--org Default" is the dashboard\'s organisation', async () => {
      const run = await runInProcess(['--org', 'Default'], database);
      const auth = await authenticateApiKey(database.db, systemClock, run.stdout.trim());
      assert.equal(auth?.organizationId, DEFAULT_ORGANIZATION_ID);
      assert.equal((await ensureDefaultOrganization(database.db, systemClock)).id, DEFAULT_ORGANIZATION_ID);
    });

    it('creates an admin key with an expiry, lists keys without secrets, and revokes one for every process', async () => {
      // In this process (fast); the revocation below crosses a process boundary.
      const created = await runInProcess(
        ['--org', 'Keyring Ltd', '--admin', '--name', 'ops', '--expires-at', '2099-01-01T00:00:00Z'],
        database,
      );
      assert.match(created.stderr, /Created admin API key key_[0-9a-z]{26} .*valid until 2099-01-01T00:00:00.000Z/);
      const key = created.stdout.trim();
      const auth = await authenticateApiKey(database.db, systemClock, key);
      assert.equal(auth?.scope, 'admin');

      let listed = '';
      const config = {
        ...loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent' }),
        database: database.config,
      };
      await runApiKeysList(config, ['--org', 'Keyring Ltd'], {
        stdout: new Writable({
          write: (chunk, _enc, done) => {
            listed += String(chunk);
            done();
          },
        }),
      });
      assert.ok(!listed.includes(key.slice(14)), 'no secret in the list');
      const row = listed.split('\n').find((line) => line.startsWith(auth.apiKeyId));
      assert.deepEqual(row?.split('\t').slice(2, 6), ['admin', 'active', 'ops', 'cli']);
      assert.match(row ?? '', /\t2099-01-01T00:00:00.000Z$/);

      // Another process revokes; this one refuses the key from its next check on.
      const revoked = await runCli(['api-keys', 'revoke', '--org', 'Keyring Ltd', '--id', auth.apiKeyId], url);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, /^Revoked API key key_/);
      assert.equal(await authenticateApiKey(database.db, systemClock, key), undefined);

      const refusal = (pattern: RegExp) => (error: unknown) => error instanceof AppError && pattern.test(error.message);
      await assert.rejects(
        runApiKeysRevoke(config, ['--org', 'Keyring Ltd', '--id', 'key_nope']),
        refusal(/organisation "Keyring Ltd" has no API key key_nope/),
      );
      await assert.rejects(runApiKeysList(config, ['--org', 'Nobody']), refusal(/no organisation is named "Nobody"/));
      assert.throws(
        () => parseApiKeysCreateArgsOrThrow(['--org', 'Keyring Ltd', '--expires-at', 'tomorrow']),
        refusal(/--expires-at must be an ISO 8601 date-time/),
      );
      assert.throws(
        () => parseApiKeysCreateArgsOrThrow(['--org', 'Keyring Ltd', '--expires-at', '2031-02-30T00:00:00Z']),
        refusal(/--expires-at is impossible: 2031-02-30 does not exist/),
      );
    });

    it('refuses bad arguments with a usage message and exit code 2, printing no key', async () => {
      const run = await runCli(['api-keys', 'create', '--org', 'Y', '--return-url', 'javascript:alert(1)'], url);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /mailbridge api-keys create: An allowed return URL is/);
      for (const args of [[], ['--org'], ['--org', 'X', '--frobnicate'], ['--return-url', 'https://a.example/']]) {
        assert.throws(
          () => parseApiKeysCreateArgsOrThrow(args),
          (error: unknown) => error instanceof AppError && error.message.includes('usage: mailbridge api-keys create'),
          args.join(' '),
        );
      }
      const orgs = await database.db.selectFrom('organizations').select('name').execute();
      assert.ok(!orgs.some((o) => o.name === 'Y'), 'a refused command created nothing');
    });
  });
}
