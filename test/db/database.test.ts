import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Kysely, PostgresIntrospector, sql } from 'kysely';
import { CurrentSchemaIntrospector } from '../../src/db/current-schema-introspector.js';
import { groupCommit } from '../../src/db/group-commit.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { openDatabase } from '../../src/db/open-database.js';
import type { Database } from '../../src/db/schema.js';
import { withTransaction } from '../../src/db/transaction.js';
import { AppError } from '../../src/errors/app-error.js';
import { Secret } from '../../src/platform/secret.js';
import { forEachDatabase, openTestDatabase, TEST_DIALECTS } from '../support/databases.js';

const execFileAsync = promisify(execFile);
const ALL_MIGRATIONS = Object.keys(migrations).sort();
const MIGRATE_PROCESS = fileURLToPath(new URL('./fixtures/migrate-process.ts', import.meta.url));

async function runMigrateProcess(env: NodeJS.ProcessEnv): Promise<{ applied: string[] }> {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', MIGRATE_PROCESS], { env });
  return JSON.parse(stdout) as { applied: string[] };
}

for (const dialect of TEST_DIALECTS) {
  describe(`migrations [${dialect}]`, () => {
    it('apply once, and a second run applies nothing', async () => {
      const database = await openTestDatabase(dialect, { migrate: false });
      try {
        assert.deepEqual(await migrateToLatest(database.db), { applied: ALL_MIGRATIONS });
        assert.deepEqual(await migrateToLatest(database.db), { applied: [] });
        const rows = await database.db.selectFrom('vault_data_keys').selectAll().execute();
        assert.deepEqual(rows, []);
      } finally {
        await database.close();
      }
    });

    it('are not fooled by migration tables of another schema or database file', async () => {
      const first = await openTestDatabase(dialect);
      const second = await openTestDatabase(dialect, { migrate: false });
      try {
        assert.deepEqual(await migrateToLatest(second.db), { applied: ALL_MIGRATIONS });
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('apply exactly once when two processes start at the same time', async () => {
      const database = await openTestDatabase(dialect, { migrate: false });
      try {
        const env = {
          ...process.env,
          DB_DIALECT: dialect,
          START_AT: String(Date.now() + 2500),
          ...(database.config.dialect === 'sqlite'
            ? { DB_PATH: database.config.path }
            : { DB_URL: database.config.url.reveal() }),
        };
        const results = await Promise.all([runMigrateProcess(env), runMigrateProcess(env)]);
        assert.deepEqual(results.flatMap((result) => result.applied).sort(), ALL_MIGRATIONS);
        const executed = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
          database.db,
        );
        assert.deepEqual(
          executed.rows.map((row) => row.name),
          ALL_MIGRATIONS,
        );
      } finally {
        await database.close();
      }
    });
  });
}

forEachDatabase('database layer', (getDb, dialect) => {
  it('returns epoch-ms timestamps (bigint in PostgreSQL) as numbers', async () => {
    const { db } = getDb();
    const createdAt = 4_102_444_800_123; // 2100-01-01, beyond 32 bits
    await db.insertInto('vault_keys').values({ key_id: 'ts', check_value: 'x', created_at: createdAt }).execute();
    const row = await db.selectFrom('vault_keys').selectAll().where('key_id', '=', 'ts').executeTakeFirstOrThrow();
    assert.equal(row.created_at, createdAt);
    const count = await db
      .selectFrom('vault_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(typeof count.n === 'bigint' ? Number(count.n) : count.n, 1);
    if (dialect === 'postgres') assert.equal(typeof count.n, 'number', 'int8 counts come back as numbers');
  });

  it('withTransaction commits on success, rolls back on error, and joins an open transaction', async () => {
    const { db } = getDb();
    await withTransaction(db, async (trx) => {
      await trx.insertInto('vault_keys').values({ key_id: 'commit', check_value: 'x', created_at: 1 }).execute();
      // Nested call joins: same transaction, no second BEGIN.
      await withTransaction(trx, async (inner) => {
        assert.equal(inner, trx);
        await inner.insertInto('vault_keys').values({ key_id: 'nested', check_value: 'x', created_at: 1 }).execute();
      });
    });
    await assert.rejects(
      withTransaction(db, async (trx) => {
        await trx.insertInto('vault_keys').values({ key_id: 'rollback', check_value: 'x', created_at: 1 }).execute();
        throw new Error('boom');
      }),
      /boom/,
    );
    const ids = (await db.selectFrom('vault_keys').select('key_id').orderBy('key_id').execute()).map((r) => r.key_id);
    assert.ok(ids.includes('commit'));
    assert.ok(ids.includes('nested'));
    assert.ok(!ids.includes('rollback'));
  });

  it('groupCommit: writes of one turn commit together, each caller gets its own result or error', async () => {
    const { db } = getDb();
    const insert = (keyId: string) => (trx: Kysely<Database>) =>
      trx.insertInto('vault_keys').values({ key_id: keyId, check_value: 'x', created_at: 1 }).execute();
    const transactions: Array<Kysely<Database>> = [];
    const outcomes = await Promise.allSettled([
      groupCommit(db, dialect, async (trx) => {
        await insert('group-a')(trx);
        transactions.push(trx);
        return 'a';
      }),
      groupCommit(db, dialect, async (trx) => {
        await insert('group-c')(trx);
        transactions.push(trx);
        return 'c';
      }),
      groupCommit(db, dialect, async (trx) => {
        await insert('group-b')(trx);
        throw new Error('b fails alone');
      }),
    ]);
    assert.deepEqual(
      outcomes.map((each) => (each.status === 'fulfilled' ? each.value : (each.reason as Error).message)),
      ['a', 'c', 'b fails alone'],
    );
    const ids = (await db.selectFrom('vault_keys').select('key_id').where('key_id', 'like', 'group-%').execute())
      .map((row) => row.key_id)
      .sort();
    assert.deepEqual(ids, ['group-a', 'group-c'], 'the failing write is rolled back, the others are committed');

    // Inside a transaction the caller opened, a write joins it.
    await assert.rejects(
      withTransaction(db, async (trx) => {
        await groupCommit(trx, dialect, insert('group-joined'));
        throw new Error('outer rolls back');
      }),
      /outer rolls back/,
    );
    const joined = await db.selectFrom('vault_keys').select('key_id').where('key_id', '=', 'group-joined').execute();
    assert.deepEqual(joined, []);
    // The first attempt ran a and c in one transaction on SQLite (then each again alone after b's failure); on
    // PostgreSQL each has its own.
    assert.equal(transactions[0] === transactions[1], dialect === 'sqlite');
  });

  if (dialect === 'sqlite') {
    it('sets WAL, busy_timeout, foreign_keys and secure_delete on SQLite', async () => {
      const { db } = getDb();
      const pragma = async (name: string): Promise<unknown> =>
        Object.values((await sql.raw(`pragma ${name}`).execute(db)).rows[0] as object)[0];
      assert.equal(pragma.length, 1);
      assert.equal(await pragma('journal_mode'), 'wal');
      assert.equal(await pragma('foreign_keys'), 1);
      assert.equal(await pragma('secure_delete'), 1);
      assert.equal(await pragma('busy_timeout'), 5000);
    });

    it('reuses compiled statements, which still see the schema a later migration changed', async () => {
      const { db } = getDb();
      await sql`create table reuse_check (a integer)`.execute(db);
      await sql`insert into reuse_check (a) values (1)`.execute(db);
      const read = () => sql<Record<string, unknown>>`select * from reuse_check`.execute(db);
      assert.deepEqual((await read()).rows, [{ a: 1 }]);
      // Same SQL text, so the kept statement is reused: SQLite must recompile it for the new column.
      await sql`alter table reuse_check add column b text default 'added'`.execute(db);
      assert.deepEqual((await read()).rows, [{ a: 1, b: 'added' }]);
      await sql`drop table reuse_check`.execute(db);
    });
  } else {
    it('prepares a repeated parameterised statement once per connection; scripts and one-offs stay unnamed', async () => {
      const { db } = getDb();
      await db.connection().execute(async (connection) => {
        const prepared = async () =>
          (
            await sql<{
              statement: string;
            }>`select statement from pg_prepared_statements where statement like ${'%prepare_check%'}`.execute(
              connection,
            )
          ).rows.map((row) => row.statement);
        const read = (a: number) => sql<{ a: number }>`select ${a}::int as a /* prepare_check */`.execute(connection);
        assert.deepEqual((await read(1)).rows, [{ a: 1 }]);
        assert.deepEqual(await prepared(), [], 'seen once: sent unnamed');
        assert.deepEqual((await read(2)).rows, [{ a: 2 }]);
        assert.deepEqual((await read(3)).rows, [{ a: 3 }]);
        assert.equal((await prepared()).length, 1, 'seen again: prepared once, then only bound and executed');
        // Without parameters, several statements in one text still run (the simple protocol, unnamed).
        await sql`select 1 /* prepare_check script */; select 2`.execute(connection);
        await sql`select 1 /* prepare_check script */; select 2`.execute(connection);
        assert.equal((await prepared()).length, 1);
      });
    });

    it('a prepared select * that a migration changed fails once, then is prepared again with the new columns', async () => {
      const { db } = getDb();
      await db.connection().execute(async (connection) => {
        await sql`create table prepared_reuse_check (a integer)`.execute(connection);
        try {
          await sql`insert into prepared_reuse_check (a) values (1)`.execute(connection);
          const read = () =>
            sql<Record<string, unknown>>`select * from prepared_reuse_check where a = ${1}`.execute(connection);
          assert.deepEqual((await read()).rows, [{ a: 1 }]);
          assert.deepEqual((await read()).rows, [{ a: 1 }]);
          await sql`alter table prepared_reuse_check add column b text default 'added'`.execute(connection);
          // PostgreSQL refuses the old plan once (0A000); the statement then gets a fresh name.
          await assert.rejects(read(), { code: '0A000' });
          assert.deepEqual((await read()).rows, [{ a: 1, b: 'added' }]);
          assert.deepEqual((await read()).rows, [{ a: 1, b: 'added' }]);
        } finally {
          await sql`drop table prepared_reuse_check`.execute(connection);
        }
      });
    });

    it('keeps each test database in its own PostgreSQL schema', async () => {
      const { db, searchPath } = getDb();
      assert.ok(searchPath?.startsWith('test_'));
      const tables = await sql<{ table_schema: string }>`
        select table_schema from information_schema.tables where table_name = 'vault_data_keys'
          and table_schema = current_schema()`.execute(db);
      assert.deepEqual(
        tables.rows.map((row) => row.table_schema),
        [searchPath],
      );
    });

    it("introspects its own schema only: another schema dropped mid-query cannot fail a migration's look-up", async () => {
      const { db, searchPath } = getDb();
      const other = await openTestDatabase('postgres');
      await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          // The transaction's snapshot still lists the other schema after its drop commits; functions that look a
          // schema up by name (Kysely's introspector calls two) do not see it any more: the race, made certain.
          await sql`select 1`.execute(trx);
          await other.close();
          // (If Kysely's introspector stops looking schemas up by name — docs/engineering.md §T — this line fails:
          // the race would be Kysely's no more, and this test keeps only its second half.)
          await sql`savepoint stock`.execute(trx);
          await assert.rejects(new PostgresIntrospector(trx).getTables(), { code: '3F000' }, 'the stock introspector');
          await sql`rollback to savepoint stock`.execute(trx);

          const ours = new CurrentSchemaIntrospector(trx);
          const tables = await ours.getTables();
          assert.ok(tables.length > 0);
          assert.deepEqual([...new Set(tables.map((table) => table.schema))], [searchPath]);
          const vaultKeys = tables.find((table) => table.name === 'vault_data_keys');
          assert.ok(vaultKeys?.columns.some((column) => column.name === 'subject_id' && !column.isNullable));
          assert.ok(!tables.some((table) => table.name === 'kysely_migration'), 'Kysely tables only when asked');
          const withInternal = await ours.getTables({ withInternalKyselyTables: true });
          assert.ok(withInternal.some((table) => table.name === 'kysely_migration' && table.schema === searchPath));
          assert.deepEqual(await ours.getSchemas(), [{ name: searchPath }]);
        });
    });
  }
});

describe('openDatabase', () => {
  it('fails with DB_UNAVAILABLE, without the password, when PostgreSQL does not answer', async () => {
    await assert.rejects(
      openDatabase({ dialect: 'postgres', url: new Secret('postgres://u:pw-should-not-show@127.0.0.1:1/x') }),
      (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'DB_UNAVAILABLE');
        assert.ok(!error.message.includes('pw-should-not-show'));
        assert.match(error.message, /127\.0\.0\.1:1/);
        return true;
      },
    );
  });
});
