import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DbDialect } from '../../src/db/schema.js';
import { cpuSeconds } from './processes.js';

/**
 * A throwaway database for one benchmark run: a SQLite file in a fresh temp directory, or a PostgreSQL database of
 * its own (`CREATE DATABASE`, dropped at the end), so that PostgreSQL's per-database statistics
 * (`pg_stat_database`, `pg_stat_user_tables`) count this run's work only, whatever else the server is doing. The
 * server is `BENCH_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres, the provisioned one); it
 * must be on loopback.
 */

export interface BenchDatabase {
  dialect: DbDialect;
  /** DATABASE_URL for mailbridge. */
  url: string;
  /** The PostgreSQL database name (undefined on SQLite). */
  name: string | undefined;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') throw new Error(`benchmarks run on loopback only, not ${host}`);
  return url;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createBenchDatabase(dialect: DbDialect, label: string): Promise<BenchDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `mailbridge-bench-${label}-`));
    return {
      dialect,
      url: `sqlite:${join(dir, 'mailbridge.db')}`,
      name: undefined,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const admin = adminUrl();
  const name = `mailbridge_bench_${label.replace(/[^a-z0-9]/gi, '_')}_${process.pid}_${randomBytes(3).toString('hex')}`;
  await withClient(admin, (client) => client.query(`create database "${name}"`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.href,
    name,
    drop: async () => {
      await withClient(admin, (client) => client.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

/** PostgreSQL's counters for one database: transactions, rows, and scans of the service's tables. */
export interface PostgresCounters {
  /** Committed + rolled back transactions (each statement outside a transaction is one). */
  transactions: number;
  /** Rows returned by scans and fetched by index lookups (`tup_returned`, `tup_fetched`). */
  rowsReturned: number;
  rowsFetched: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  /** Sequential scans of the service's tables, and the rows they read; index scans. */
  seqScans: number;
  seqRowsRead: number;
  indexScans: number;
  /** Per table: sequential scans and rows they read, index scans (only tables that were touched). */
  tables: Record<string, { seqScans: number; seqRowsRead: number; indexScans: number }>;
  blocksRead: number;
  blocksHit: number;
}

/**
 * Reads the counters of `database` (after giving backends a moment to flush their statistics: PostgreSQL 15 flushes
 * a backend's counters at most once a second while it is busy, and at disconnect).
 */
export async function postgresCounters(database: BenchDatabase): Promise<PostgresCounters> {
  if (database.dialect !== 'postgres' || !database.name) throw new Error('PostgreSQL counters need PostgreSQL');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return withClient(database.url, async (client) => {
    await client.query('select pg_stat_clear_snapshot()');
    const db = await client.query<Record<string, string>>(
      `select xact_commit + xact_rollback as transactions, tup_returned, tup_fetched, tup_inserted, tup_updated,
              tup_deleted, blks_read, blks_hit
         from pg_stat_database where datname = $1`,
      [database.name],
    );
    const tables = await client.query<{ relname: string; seq_scan: string; seq_tup_read: string; idx_scan: string }>(
      `select relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) as idx_scan
         from pg_stat_user_tables where schemaname = 'public'`,
    );
    const row = db.rows[0]!;
    const counters: PostgresCounters = {
      transactions: Number(row.transactions),
      rowsReturned: Number(row.tup_returned),
      rowsFetched: Number(row.tup_fetched),
      rowsInserted: Number(row.tup_inserted),
      rowsUpdated: Number(row.tup_updated),
      rowsDeleted: Number(row.tup_deleted),
      seqScans: 0,
      seqRowsRead: 0,
      indexScans: 0,
      tables: {},
      blocksRead: Number(row.blks_read),
      blocksHit: Number(row.blks_hit),
    };
    for (const table of tables.rows) {
      const entry = {
        seqScans: Number(table.seq_scan),
        seqRowsRead: Number(table.seq_tup_read),
        indexScans: Number(table.idx_scan),
      };
      counters.tables[table.relname] = entry;
      counters.seqScans += entry.seqScans;
      counters.seqRowsRead += entry.seqRowsRead;
      counters.indexScans += entry.indexScans;
    }
    return counters;
  });
}

/** `after − before`, table by table (tables whose counters did not move are left out). */
export function counterDelta(before: PostgresCounters, after: PostgresCounters): PostgresCounters {
  const tables: PostgresCounters['tables'] = {};
  for (const [name, entry] of Object.entries(after.tables)) {
    const was = before.tables[name] ?? { seqScans: 0, seqRowsRead: 0, indexScans: 0 };
    const delta = {
      seqScans: entry.seqScans - was.seqScans,
      seqRowsRead: entry.seqRowsRead - was.seqRowsRead,
      indexScans: entry.indexScans - was.indexScans,
    };
    if (delta.seqScans !== 0 || delta.indexScans !== 0) tables[name] = delta;
  }
  return {
    transactions: after.transactions - before.transactions,
    rowsReturned: after.rowsReturned - before.rowsReturned,
    rowsFetched: after.rowsFetched - before.rowsFetched,
    rowsInserted: after.rowsInserted - before.rowsInserted,
    rowsUpdated: after.rowsUpdated - before.rowsUpdated,
    rowsDeleted: after.rowsDeleted - before.rowsDeleted,
    seqScans: after.seqScans - before.seqScans,
    seqRowsRead: after.seqRowsRead - before.seqRowsRead,
    indexScans: after.indexScans - before.indexScans,
    tables,
    blocksRead: after.blocksRead - before.blocksRead,
    blocksHit: after.blocksHit - before.blocksHit,
  };
}

/**
 * The CPU that PostgreSQL's backends spend for the service (issue 14: they burn as much as the Node processes, so a
 * figure without them flatters PostgreSQL). Counts every backend connected to `database` under the service's
 * application name (`mailbridge`, src/db/open-database.ts), read from /proc/<pid>/stat (PostgreSQL runs on this
 * machine; loopback only). Backends come and go with the pools: `start` samples the ones present (their CPU so far is
 * not counted), a timer samples every `intervalMs` so a backend that appears is counted from its start and one that
 * exits keeps what it had used at its last sample, and `stop` samples once more. Its own connection has another
 * application name and is not counted.
 */
export class BackendCpu {
  readonly #database: BenchDatabase;
  readonly #client: pg.Client;
  /** Per backend pid: CPU seconds when first seen (0 when it appeared during the run) and at its last sample. */
  readonly #seen = new Map<number, { first: number; last: number }>();
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> = Promise.resolve();

  private constructor(database: BenchDatabase, client: pg.Client) {
    this.#database = database;
    this.#client = client;
  }

  static async start(database: BenchDatabase, intervalMs = 200): Promise<BackendCpu> {
    if (database.dialect !== 'postgres' || !database.name) throw new Error('backend CPU needs PostgreSQL');
    const client = new pg.Client({ connectionString: database.url, application_name: 'mailbridge-bench' });
    await client.connect();
    const sampler = new BackendCpu(database, client);
    await sampler.#sample(true);
    sampler.#timer = setInterval(() => {
      sampler.#sampling = sampler.#sampling.then(() => sampler.#sample(false)).catch(() => undefined);
    }, intervalMs);
    return sampler;
  }

  /** The client of this sampler (application name `mailbridge-bench`): for the benchmark's own reads. */
  get client(): pg.Client {
    return this.#client;
  }

  async #sample(initial: boolean): Promise<void> {
    const { rows } = await this.#client.query<{ pid: number }>(
      `select pid from pg_stat_activity where datname = $1 and application_name = 'mailbridge'`,
      [this.#database.name],
    );
    for (const { pid } of rows) {
      let cpu: number;
      try {
        cpu = cpuSeconds(pid);
      } catch {
        continue; // Exited since the query.
      }
      const entry = this.#seen.get(pid);
      if (entry) entry.last = cpu;
      else this.#seen.set(pid, { first: initial ? cpu : 0, last: cpu });
    }
  }

  /** Stops sampling; returns the CPU seconds the backends spent since `start`, and how many backends there were. */
  async stop(): Promise<{ seconds: number; backends: number }> {
    clearInterval(this.#timer);
    await this.#sampling;
    await this.#sample(false);
    await this.#client.end();
    let seconds = 0;
    for (const entry of this.#seen.values()) seconds += entry.last - entry.first;
    return { seconds, backends: this.#seen.size };
  }
}
