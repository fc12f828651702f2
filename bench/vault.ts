import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { runKeysRotate } from '../src/cli/keys-rotate.js';
import type { DatabaseConfig } from '../src/config/config.js';
import { loadConfig } from '../src/config/load-config.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { type DatabaseHandle, openDatabase } from '../src/db/open-database.js';
import type { Database } from '../src/db/schema.js';
import { createLogger } from '../src/platform/logger.js';
import { Secret } from '../src/platform/secret.js';
import { parseKeyRingOrThrow } from '../src/vault/key-ring.js';
import { PlaintextSecret, type SealedSecret } from '../src/vault/secret-types.js';
import { assertKeyRingOpensData, TokenVault } from '../src/vault/token-vault.js';
import { integerArg } from './support/args.js';
import { runBenchmark } from './support/report.js';

/**
 * The token vault's costs (issue 5, "vault"):
 * 1. seal + open per second through `TokenVault` (load the subject's data key from the database, unwrap it under
 *    the key ring, AES-256-GCM the value with its associated data, encode), on SQLite and on PostgreSQL, against
 *    the floor: a bare AES-256-GCM encrypt + decrypt of the same plaintext with Node's crypto, one fixed key, no
 *    envelope, no database;
 * 2. `mailbridge keys rotate` (`runKeysRotate`, the command's function: its own connection, batches of 200, one
 *    transaction each) over 100,000 data keys, on SQLite and PostgreSQL, against one plain UPDATE of the same rows
 *    (and, to show where the time goes, the rotation's own batches and per-row UPDATEs without the crypto).
 * Each figure is measured in the same run as its baseline. Bounded: a few hundred thousand operations.
 *
 *   node --import tsx bench/vault.ts [--ops 20000] [--accounts 100000] [--skip-postgres]
 *   npm run bench -- vault
 */

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '20000' },
    accounts: { type: 'string', default: '100000' },
    'plaintext-bytes': { type: 'string', default: '1600' },
    'skip-postgres': { type: 'boolean', default: false },
  },
});
const OPS = integerArg('ops', args.ops);
const ACCOUNTS = integerArg('accounts', args.accounts);
const PLAINTEXT_BYTES = integerArg('plaintext-bytes', args['plaintext-bytes']);
/** The batch size `mailbridge keys rotate` uses (src/cli/keys-rotate.ts). */
const ROTATE_BATCH = 200;

const keyText = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const OLD_KEY = keyText('old');
const NEW_KEY = keyText('new');
const quietLogger = createLogger(loadConfig({ LOG_LEVEL: 'silent', MAILBRIDGE_DATA_DIR: tmpdir() }));
const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });

interface Row {
  operation: string;
  database: string;
  figure: string;
  baseline: string;
  baselineFigure: string;
  /** Figure ÷ baseline, as throughputs (1.00 = as fast as the baseline). */
  ratio: number;
}

const rate = (count: number, ms: number) => (count / ms) * 1000;
const grouped = (value: number) => Math.round(value).toLocaleString('en-US');

// ---- the databases ----------------------------------------------------------------------------------------------

interface BenchDatabase {
  name: 'SQLite' | 'PostgreSQL';
  config: DatabaseConfig;
  handle: DatabaseHandle;
  drop(): Promise<void>;
}

async function sqliteDatabase(): Promise<BenchDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-bench-vault-'));
  const config: DatabaseConfig = { dialect: 'sqlite', path: join(dir, 'mailbridge.db') };
  const handle = await openDatabase(config);
  await migrateToLatest(handle.db);
  return {
    name: 'SQLite',
    config,
    handle,
    drop: async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh schema in the test database (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test). */
async function postgresDatabase(): Promise<BenchDatabase> {
  const base = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema "${schema}"`);
  const scoped = new URL(base);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  const config: DatabaseConfig = { dialect: 'postgres', url: new Secret(scoped.href) };
  const handle = await openDatabase(config);
  await migrateToLatest(handle.db);
  return {
    name: 'PostgreSQL',
    config,
    handle,
    drop: async () => {
      await handle.close();
      await admin(`drop schema if exists "${schema}" cascade`);
    },
  };
}

// ---- 1. seal + open ------------------------------------------------------------------------------------------------

function bareAesGcm(plaintext: Buffer): number {
  const key = randomBytes(32);
  const started = performance.now();
  for (let i = 0; i < OPS; i++) {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAuthTag(tag);
    const opened = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    if (opened.length !== plaintext.length) throw new Error('bare AES-GCM round trip failed');
  }
  return rate(OPS, performance.now() - started);
}

async function vaultSealOpen(
  db: Kysely<Database>,
  plaintext: string,
): Promise<{ pairs: number; seal: number; open: number }> {
  const vault = new TokenVault({ keyRing: parseKeyRingOrThrow(OLD_KEY) });
  const subjects = Array.from({ length: 100 }, (_, i) => `acc_bench_seal_${i}`);
  for (const subject of subjects) await vault.ensureDataKey(db, subject);
  const secret = PlaintextSecret.from(plaintext);
  // Warm-up: JIT, statement caches, the data keys' pages.
  for (let i = 0; i < 1_000; i++) {
    const subject = subjects[i % subjects.length]!;
    await vault.open(db, subject, 'access_token', await vault.seal(db, subject, 'access_token', secret));
  }
  const sealed: SealedSecret[] = new Array(OPS);
  let started = performance.now();
  for (let i = 0; i < OPS; i++)
    sealed[i] = await vault.seal(db, subjects[i % subjects.length]!, 'access_token', secret);
  const sealMs = performance.now() - started;
  started = performance.now();
  for (let i = 0; i < OPS; i++) {
    const opened = await vault.open(db, subjects[i % subjects.length]!, 'access_token', sealed[i]!);
    if (opened.reveal().length !== plaintext.length) throw new Error('vault round trip failed');
  }
  const openMs = performance.now() - started;
  return { pairs: rate(OPS, sealMs + openMs), seal: rate(OPS, sealMs), open: rate(OPS, openMs) };
}

// ---- 2. keys rotate ------------------------------------------------------------------------------------------------

/**
 * ACCOUNTS data keys under the old key, written in bulk in the vault's format (what `ensureDataKey` writes one
 * transaction at a time; the format is checked below: values sealed before the rotation must open after it).
 */
async function fillDataKeys(db: Kysely<Database>): Promise<void> {
  const ring = parseKeyRingOrThrow(OLD_KEY);
  await assertKeyRingOpensData(db, ring);
  const now = Date.now();
  const chunk = 1_000;
  for (let start = 0; start < ACCOUNTS; start += chunk) {
    const rows = [];
    for (let i = start; i < Math.min(ACCOUNTS, start + chunk); i++) {
      const subject = `acc_bench_${String(i).padStart(7, '0')}`;
      const dataKeyId = randomBytes(16).toString('base64url');
      const aad = Buffer.from(JSON.stringify(['mailbridge/vault/data-key/v1', subject, dataKeyId]), 'utf8');
      const { iv, ciphertext, tag } = ring.wrap(ring.activeKeyId, randomBytes(32), aad);
      rows.push({
        subject_id: subject,
        data_key_id: dataKeyId,
        wrapping_key_id: ring.activeKeyId,
        wrapped_key: [iv, ciphertext, tag].map((part) => part.toString('base64url')).join('.'),
        created_at: now,
        rotated_at: null,
      });
    }
    await db.insertInto('vault_data_keys').values(rows).execute();
  }
}

async function vacuum(database: BenchDatabase): Promise<void> {
  // The rotation and the baselines each rewrite every row: start each from a table without dead rows.
  if (database.name === 'PostgreSQL') await sql`vacuum analyze vault_data_keys`.execute(database.handle.db);
  else await sql`pragma wal_checkpoint(truncate)`.execute(database.handle.db);
}

async function rotation(database: BenchDatabase): Promise<Row[]> {
  const { db } = database.handle;
  // Exactly ACCOUNTS data keys: none left from the seal + open measurement.
  await db.deleteFrom('vault_data_keys').execute();
  await fillDataKeys(db);
  // Values sealed under the old ring, to open after the rotation.
  const oldVault = new TokenVault({ keyRing: parseKeyRingOrThrow(OLD_KEY) });
  const samples = ['acc_bench_0000000', `acc_bench_${String(ACCOUNTS - 1).padStart(7, '0')}`];
  const sealed = await Promise.all(
    samples.map((subject) => oldVault.seal(db, subject, 'refresh_token', PlaintextSecret.from(`sample-${subject}`))),
  );
  await vacuum(database);

  const config = loadConfig({
    DATABASE_URL:
      database.config.dialect === 'sqlite' ? `sqlite:${database.config.path}` : database.config.url.reveal(),
    MAILBRIDGE_KEYS: `${NEW_KEY},${OLD_KEY}`,
    LOG_LEVEL: 'silent',
    MAILBRIDGE_DATA_DIR: tmpdir(),
  });
  let started = performance.now();
  const result = await runKeysRotate(config, { stderr: nowhere, logger: quietLogger });
  const rotateMs = performance.now() - started;
  if (result.rewrapped !== ACCOUNTS) throw new Error(`keys rotate re-wrapped ${result.rewrapped} of ${ACCOUNTS}`);
  const newVault = new TokenVault({ keyRing: parseKeyRingOrThrow(`${NEW_KEY},${OLD_KEY}`) });
  for (const [index, subject] of samples.entries()) {
    const opened = await newVault.open(db, subject, 'refresh_token', sealed[index]!);
    if (opened.reveal() !== `sample-${subject}`) throw new Error('a value sealed before the rotation does not open');
  }

  await vacuum(database);
  started = performance.now();
  // The same change of every row (another wrapping key id, which is indexed), in one statement, no crypto.
  await db.updateTable('vault_data_keys').set({ wrapping_key_id: 'plain', rotated_at: Date.now() }).execute();
  const plainMs = performance.now() - started;

  // The rotation's shape without its crypto: keyset batches of 200, one transaction each, one UPDATE per row that
  // changes the same columns (the indexed wrapping key id included).
  await vacuum(database);
  started = performance.now();
  let after = '';
  for (;;) {
    const done = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('vault_data_keys')
        .select(['subject_id', 'data_key_id', 'wrapping_key_id', 'wrapped_key'])
        .where('subject_id', '>', after)
        .orderBy('subject_id')
        .limit(ROTATE_BATCH)
        .execute();
      for (const row of rows) {
        await trx
          .updateTable('vault_data_keys')
          .set({ wrapping_key_id: 'batched', wrapped_key: row.wrapped_key, rotated_at: Date.now() })
          .where('subject_id', '=', row.subject_id)
          .where('data_key_id', '=', row.data_key_id)
          .where('wrapping_key_id', '=', row.wrapping_key_id)
          .execute();
      }
      after = rows.at(-1)?.subject_id ?? after;
      return rows.length < ROTATE_BATCH;
    });
    if (done) break;
  }
  const batchedMs = performance.now() - started;

  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s (${grouped(rate(ACCOUNTS, ms))} rows/s)`;
  const operation = `keys rotate, ${grouped(ACCOUNTS)} data keys`;
  return [
    {
      operation,
      database: database.name,
      figure: seconds(rotateMs),
      baseline: 'one plain UPDATE of the same rows and columns',
      baselineFigure: seconds(plainMs),
      ratio: plainMs / rotateMs,
    },
    {
      operation,
      database: database.name,
      figure: seconds(rotateMs),
      baseline: 'its batches and per-row UPDATEs, no crypto',
      baselineFigure: seconds(batchedMs),
      ratio: batchedMs / rotateMs,
    },
  ];
}

// ---- report --------------------------------------------------------------------------------------------------------

function table(rows: Row[]): string {
  const header = ['Operation', 'Database', 'Figure', 'Baseline (same run)', 'Baseline figure', 'vs. baseline'];
  const cells = rows.map((row) => [
    row.operation,
    row.database,
    row.figure,
    row.baseline,
    row.baselineFigure,
    row.ratio.toFixed(row.ratio < 0.1 ? 3 : 2),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]!.length)));
  const numeric = new Set([2, 4, 5]);
  const line = (values: string[]) =>
    `| ${values.map((value, column) => (numeric.has(column) ? value.padStart(widths[column]!) : value.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (numeric.has(column) ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`;
  return [line(header), rule, ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log('Token vault benchmark');
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
  );
  console.log(`load average at start: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  console.log(
    `run: ${grouped(OPS)} seals then ${grouped(OPS)} opens of a ${PLAINTEXT_BYTES}-byte value (an access token's size) over 100 subjects; keys rotate over ${grouped(ACCOUNTS)} data keys, batches of ${ROTATE_BATCH}`,
  );

  const plaintext = randomBytes(PLAINTEXT_BYTES).toString('base64url').slice(0, PLAINTEXT_BYTES);
  const rows: Row[] = [];
  const notes: string[] = [];
  const databases: Array<() => Promise<BenchDatabase>> = [sqliteDatabase];
  if (!args['skip-postgres']) databases.push(postgresDatabase);

  for (const open of databases) {
    let database: BenchDatabase;
    try {
      database = await open();
    } catch (error) {
      notes.push(`PostgreSQL skipped: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    try {
      const bare = bareAesGcm(Buffer.from(plaintext));
      const vault = await vaultSealOpen(database.handle.db, plaintext);
      const pairs = (value: number) => `${grouped(value)} pairs/s`;
      rows.push({
        operation: `seal + open (seal ${grouped(vault.seal)}/s, open ${grouped(vault.open)}/s)`,
        database: database.name,
        figure: pairs(vault.pairs),
        baseline: 'bare AES-256-GCM encrypt + decrypt',
        baselineFigure: pairs(bare),
        ratio: vault.pairs / bare,
      });
      rows.push(...(await rotation(database)));
    } finally {
      await database.drop();
    }
  }

  console.log('');
  console.log(table(rows));
  console.log(`load average at end: ${loadavg()[0]!.toFixed(2)} (1 min)`);
  for (const note of notes) console.log(`NOTE ${note}`);
}

await runBenchmark(main);
