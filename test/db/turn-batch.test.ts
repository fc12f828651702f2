import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { TurnBatches, unnestRows } from '../../src/db/turn-batch.js';
import { openTestDatabase, type TestDatabase } from '../support/databases.js';
import { StatementCounter } from '../support/statement-counter.js';

/**
 * src/db/turn-batch.ts on PostgreSQL, with a table of the test's own: inputs asked for within one turn become one
 * statement, each caller gets its own row's result, and a statement that fails is run again per input, so only the
 * failing input's caller sees the error. The database is the oracle: what the rows hold afterwards.
 */

interface Row {
  id: string;
  label: string | null;
  amount: number;
}

/** Inserts the rows in one statement; returns, per row, the id stored (the table's unique `id` may refuse a row). */
async function insertRows(db: Kysely<Database>, rows: readonly Row[]): Promise<string[]> {
  const input = unnestRows(rows, [
    ['id', 'text'],
    ['label', 'text'],
    ['amount', 'bigint'],
  ]);
  const result = await sql<{ id: string }>`
    with input as (${input})
    insert into batched_rows (id, label, amount) select id, label, amount from input returning id
  `.execute(db);
  return rows.map((row) => result.rows.find((each) => each.id === row.id)?.id ?? 'missing');
}

describe('multi-row statements per turn (TurnBatches) [postgres]', () => {
  let database: TestDatabase;
  const stored = async () =>
    (await sql<Row>`select id, label, amount from batched_rows order by id`.execute(database.db)).rows.map((row) => ({
      ...row,
      amount: Number(row.amount),
    }));

  before(async () => {
    database = await openTestDatabase('postgres', { migrate: false });
    await sql`create table batched_rows (id text primary key, label text, amount bigint not null)`.execute(database.db);
  });
  after(async () => {
    await database?.close();
  });

  it('writes the inputs of one turn in one statement, each caller getting its own row, values kept exactly', async () => {
    const counter = new StatementCounter();
    const db = database.db.withPlugin(counter);
    const batches = new TurnBatches(insertRows);
    const tricky = 'a "quoted", {braced} \\ back\\slashed, ünïcode, NULL';
    const results = await Promise.all([
      batches.add(db, 'one shape', { id: 'r1', label: tricky, amount: 9_007_199_254_740 }),
      batches.add(db, 'one shape', { id: 'r2', label: null, amount: 2 }),
      batches.add(db, 'one shape', { id: 'r3', label: '', amount: 3 }),
    ]);
    assert.deepEqual(results, ['r1', 'r2', 'r3']);
    assert.equal(counter.count, 1, 'one statement for the three');
    assert.deepEqual(await stored(), [
      { id: 'r1', label: tricky, amount: 9_007_199_254_740 },
      { id: 'r2', label: null, amount: 2 },
      { id: 'r3', label: '', amount: 3 },
    ]);
  });

  it('keeps different keys in statements of their own, and inputs of later turns in later statements', async () => {
    const counter = new StatementCounter();
    const db = database.db.withPlugin(counter);
    const batches = new TurnBatches(insertRows);
    await Promise.all([
      batches.add(db, 'a', { id: 'k1', label: 'a', amount: 1 }),
      batches.add(db, 'b', { id: 'k2', label: 'b', amount: 1 }),
    ]);
    assert.equal(counter.count, 2);
    await batches.add(db, 'a', { id: 'k3', label: 'a', amount: 1 });
    assert.equal(counter.count, 3);
  });

  it('splits a turn larger than maxRows into several statements', async () => {
    const counter = new StatementCounter();
    const db = database.db.withPlugin(counter);
    const batches = new TurnBatches(insertRows, 2);
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5'];
    assert.deepEqual(await Promise.all(ids.map((id) => batches.add(db, 'k', { id, label: null, amount: 0 }))), ids);
    assert.equal(counter.count, 3);
  });

  it('a statement that fails is run again per input: only the failing input’s caller gets the error', async () => {
    const batches = new TurnBatches(insertRows);
    const settled = await Promise.allSettled([
      batches.add(database.db, 'k', { id: 'f1', label: 'fine', amount: 1 }),
      // Already stored by the first test: the unique key refuses it, and with it the whole first statement.
      batches.add(database.db, 'k', { id: 'r1', label: 'duplicate', amount: 1 }),
      batches.add(database.db, 'k', { id: 'f2', label: 'fine', amount: 2 }),
    ]);
    assert.deepEqual(
      settled.map((each) => each.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /duplicate key/);
    const rows = await stored();
    assert.deepEqual(
      rows.filter((row) => ['f1', 'f2', 'r1'].includes(row.id)).map((row) => [row.id, row.label]),
      [
        ['f1', 'fine'],
        ['f2', 'fine'],
        ['r1', 'a "quoted", {braced} \\ back\\slashed, ünïcode, NULL'],
      ],
    );
  });

  it('inside a transaction the write joins it, so it is rolled back with it', async () => {
    const batches = new TurnBatches(insertRows);
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await batches.add(trx, 'k', { id: 't1', label: null, amount: 1 });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal(
      (await stored()).some((row) => row.id === 't1'),
      false,
    );
  });
});
