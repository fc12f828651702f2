import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config/config.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/open-database.js';
import type { DbDialect } from '../../src/db/schema.js';
import { Secret } from '../../src/platform/secret.js';

/**
 * Real databases for tests: a SQLite file in a fresh temp directory, and PostgreSQL in a fresh schema (so test
 * files running in parallel never see each other's rows). PostgreSQL is `TEST_DATABASE_URL`, default
 * postgres://postgres@127.0.0.1:5432/test (scripts/provision.sh starts it).
 */
export const TEST_DIALECTS: readonly DbDialect[] = ['sqlite', 'postgres'];

export function testPostgresUrl(): string {
  return process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export interface TestDatabase extends DatabaseHandle {
  /** The configuration that reaches this database, schema included (for code that opens its own connection). */
  readonly config: DatabaseConfig;
  /** For PostgreSQL, the schema this database lives in. */
  readonly searchPath: string | undefined;
  /**
   * A second, independent connection to the same database, like another process; closed with this one.
   * SQLite caveat: better-sqlite3 waits for a lock synchronously, so two connections in one thread that both write
   * inside overlapping transactions block each other (busy_timeout, then SQLITE_BUSY). For concurrent writers on
   * SQLite use a child process; concurrent work on one handle is fine.
   */
  reopen(): Promise<DatabaseHandle>;
  /** Closes every connection and removes the database (temp directory or schema). */
  close(): Promise<void>;
}

/** A fresh, empty (or migrated, by default) database of the given dialect. */
export async function openTestDatabase(dialect: DbDialect, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const opened: DatabaseHandle[] = [];
  let config: DatabaseConfig;
  let searchPath: string | undefined;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'mailbridge-db-'));
    config = { dialect: 'sqlite', path: join(dir, 'mailbridge.db') };
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const url = testPostgresUrl();
    await dropAbandonedSchemas(url);
    const schema = `test_${process.pid}_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
    await withAdminClient(url, (client) => client.query(`create schema "${schema}"`));
    // The schema travels in the URL (`options=-c search_path=…`), so code under test that opens its own
    // connection from `config` (a CLI command, a second process) lands in the same schema.
    const scoped = new URL(url);
    scoped.searchParams.set('options', `-c search_path=${schema}`);
    config = { dialect: 'postgres', url: new Secret(scoped.href) };
    searchPath = schema;
    cleanup = async () => {
      // A session still holding locks in the schema (a transaction a failed test left open) fails the drop after
      // 10 s, naming the lock, rather than holding the test's hook for ever.
      await withAdminClient(url, async (client) => {
        await client.query(`set lock_timeout = '10s'`);
        await client.query(`drop schema if exists "${schema}" cascade`);
      });
    };
  }
  const open = async (): Promise<DatabaseHandle> => {
    const handle = await openDatabase(config, { poolSize: 5 });
    opened.push(handle);
    return handle;
  };
  let main: DatabaseHandle;
  try {
    main = await open();
    if (options.migrate !== false) await migrateToLatest(main.db);
  } catch (error) {
    for (const handle of opened) await handle.close();
    await cleanup();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    db: main.db,
    dialect,
    config,
    searchPath,
    reopen: open,
    close: () => {
      closing ??= (async () => {
        for (const handle of opened) await handle.close();
        await cleanup();
      })();
      return closing;
    },
  };
}

/**
 * Declares the same tests once per dialect: `describe('<title> [sqlite]')` and `describe('<title> [postgres]')`,
 * each with its own migrated database, opened before the tests and removed after them.
 *
 *   forEachDatabase('token vault', (getDb) => {
 *     it('seals', async () => { const { db } = getDb(); … });
 *   });
 */
export function forEachDatabase(
  title: string,
  body: (getDb: () => TestDatabase, dialect: DbDialect) => void,
  options: { migrate?: boolean } = {},
): void {
  for (const dialect of TEST_DIALECTS) {
    describe(`${title} [${dialect}]`, () => {
      let database: TestDatabase | undefined;
      before(async () => {
        database = await openTestDatabase(dialect, options);
      });
      after(async () => {
        await database?.close();
      });
      body(() => {
        if (!database) throw new Error('the test database is opened in before(): use getDb() inside tests or hooks');
        return database;
      }, dialect);
    });
  }
}

/**
 * Drops the schemas of test processes that died without cleaning up (killed runs), so they do not pile up:
 * `test_<pid>_<created unix seconds>_<hex>` schemas on a local server whose process is gone AND that are older than an
 * hour. The age matters: a pid names a process only within one pid namespace, and test runs in other sandboxes on
 * this machine share the server (a live run elsewhere looks dead from here).
 */
async function dropAbandonedSchemas(url: string): Promise<void> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return;
  const oldestKeptSeconds = Math.floor(Date.now() / 1000) - 3600;
  await withAdminClient(url, async (client) => {
    // Best effort, and never a wait: a schema whose tables someone still locks is in use after all (a long run in
    // another sandbox); without a lock timeout its DROP would wait for that session, and this test with it.
    await client.query(`set lock_timeout = '500ms'`);
    const { rows } = await client.query<{ name: string }>(
      `select nspname as name from pg_namespace where nspname ~ '^test_[0-9]+_[0-9]+_[0-9a-f]{8}$'`,
    );
    for (const { name } of rows) {
      const [, pid, createdAt] = name.split('_').map(Number);
      if (pid === process.pid || createdAt! > oldestKeptSeconds || isAlive(pid!)) continue;
      await client.query(`drop schema if exists "${name}" cascade`).catch(() => {
        // Locked, or dropped by another test process at the same moment: left for a later run.
      });
    }
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function withAdminClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
