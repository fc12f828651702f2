import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import { CurrentSchemaPostgresDialect } from './current-schema-introspector.js';
import { preparingPool } from './prepared-statements.js';
import type { Database, DbDialect } from './schema.js';

/** The database's codes (src/errors/error-table.ts). */
export const DB_ERRORS = {
  DB_UNAVAILABLE: { status: 503, description: 'The configured database cannot be opened (DATABASE_URL).' },
  DB_MIGRATION_FAILED: { status: 500, description: 'A schema migration failed; `details.migration` names it.' },
} as const satisfies ErrorTable;

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: DbDialect;
  /** Closes the pool / file. Idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL only: the pool size (default 10). */
  poolSize?: number;
  /** Where errors of idle pool clients go (a restarted server); without a handler they would crash the process. */
  onPoolError?: (error: Error) => void;
}

/**
 * Opens the database named by the configuration and checks that it answers. Throws `DB_UNAVAILABLE` (with the
 * driver error as cause) when it does not.
 */
export async function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  const handle = config.dialect === 'sqlite' ? openSqlite(config.path) : openPostgres(config.url.reveal(), options);
  try {
    await sql`select 1`.execute(handle.db);
  } catch (error) {
    await handle.close().catch(() => {
      // The open already failed; a second failure while closing adds nothing the caller can act on.
    });
    const where = config.dialect === 'sqlite' ? config.path : describePostgresUrl(config.url.reveal());
    throw new AppError('DB_UNAVAILABLE', `cannot open the ${config.dialect} database at ${where}`, { cause: error });
  }
  return handle;
}

function openSqlite(path: string): DatabaseHandle {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new SqliteDatabase(path);
  // WAL: readers do not block the writer (the service keeps serving while `keys rotate` writes).
  database.pragma('journal_mode = WAL');
  // WAL makes NORMAL durable against application crashes; only a power loss may drop the last commits.
  database.pragma('synchronous = NORMAL');
  // Another process (the CLI, a second service) may hold the write lock: wait for it instead of failing at once.
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  // Crypto-shredding deletes a data key and its ciphertext; secure_delete overwrites the freed pages with zeros so
  // neither lingers in free pages of the file. (Frames in the WAL are overwritten as the WAL is reused after
  // checkpoints.) @see docs/standards.md §10
  database.pragma('secure_delete = ON');
  reusePreparedStatements(database);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database }) });
  return { db, dialect: 'sqlite', close: once(() => db.destroy()) };
}

/** Compiled statements kept per SQLite connection (least recently used dropped first). */
const PREPARED_STATEMENT_CACHE = 512;

/**
 * Kysely's SQLite driver calls `prepare` for every statement it runs, and better-sqlite3 compiles the SQL each time:
 * a sixth of a `mailbridge start` process's CPU in the send pipeline benchmark (README Performance). The service runs
 * a few hundred distinct statements, so compiled ones are kept by SQL text and reused. Safe because the driver runs
 * each statement to completion synchronously (`all`/`run`; nothing here streams), statements are never put in raw or
 * pluck mode, and SQLite recompiles a kept statement by itself after a schema change (a migration).
 */
function reusePreparedStatements(database: SqliteDatabase.Database): void {
  const prepare = database.prepare.bind(database);
  const cache = new Map<string, SqliteDatabase.Statement>();
  database.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement) {
      cache.delete(source);
    } else {
      statement = prepare(source);
      if (cache.size >= PREPARED_STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, statement);
    return statement;
  }) as typeof database.prepare;
}

/**
 * Transactions begin with BEGIN IMMEDIATE: a deferred transaction that reads and then writes while another process
 * writes fails with SQLITE_BUSY at once (busy_timeout cannot help a lock upgrade); an immediate one takes the write
 * lock up front and waits its turn. @see docs/standards.md §10
 */
class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/**
 * SQLite runs DDL inside transactions (@see docs/standards.md §10), but Kysely's adapter says it
 * does not, so its migrator would run migrations outside a transaction and two processes starting together would
 * both apply the same migration. Saying yes makes each run one BEGIN IMMEDIATE transaction: the second process
 * waits, then finds nothing left to do.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

const INT8_OID = 20;

function openPostgres(url: string, options: OpenDatabaseOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    // A request for a connection fails after 30 s instead of waiting for ever (pg's default): a pool that stays
    // exhausted that long is a fault to report (the request or job fails and is retried), not a silent hang.
    connectionTimeoutMillis: 30_000,
    application_name: 'mailbridge',
    // Timestamps are epoch ms in bigint columns and counts are int8: read them as numbers, not strings, so both
    // dialects return the same types. Epoch ms stay far below 2^53. Per pool, not pg.types: no global side effect.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? parseInt8
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', (error) => {
    options.onPoolError?.(error);
  });
  // Repeated statements are sent as named (prepared) statements: parsed and planned once per connection.
  const db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool: preparingPool(pool) }) });
  return { db, dialect: 'postgres', close: once(() => db.destroy()) };
}

function parseInt8(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`int8 value ${value} is outside the safe integer range`);
  return number;
}

/** The URL without its password, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}
