import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { RowTemplates, StatementTemplate } from '../../src/db/statement-template.js';
import { withTransaction } from '../../src/db/transaction.js';
import { openTestDatabase, TEST_DIALECTS, type TestDatabase } from '../support/databases.js';
import { StatementCounter } from '../support/statement-counter.js';

/**
 * src/db/statement-template.ts on both dialects, with a table of the test's own: a template built once runs with
 * each call's values (the rows the database holds afterwards are the oracle), in and out of transactions, through
 * a handle with plugins, and refuses what it cannot do faithfully.
 */

// The test's own table is not in the service's schema: the templates reach it through a handle typed for it.
interface TestTables {
  templated_rows: { id: string; label: string | null; amount: number; kind: string | null };
}
const own = (db: Kysely<Database>) => db as unknown as Kysely<TestTables>;

const insertRow = new StatementTemplate<{ id: string; label: string | null; amount: number }, { id: string }>(
  (db, slots) =>
    own(db)
      .insertInto('templated_rows')
      .values({ id: slots.id, label: slots.label, amount: slots.amount, kind: 'fixed' })
      .returning('id'),
);

const renameIfAmount = new StatementTemplate<{ id: string; label: string; amount: number }, never>((db, slots) =>
  own(db)
    .updateTable('templated_rows')
    .set({ label: slots.label })
    .where('id', '=', slots.id)
    .where('amount', '=', slots.amount),
);

const rowsAbove = new StatementTemplate<{ least: number }, { id: string; label: string | null; amount: number }>(
  (db, slots) =>
    own(db)
      .selectFrom('templated_rows')
      .select(['id', 'label', 'amount'])
      .where(sql<boolean>`amount > ${slots.least}`)
      .orderBy('id'),
);

for (const dialect of TEST_DIALECTS) {
  describe(`statement templates [${dialect}]`, () => {
    let database: TestDatabase;
    const stored = async () =>
      (
        await sql<{ id: string; label: string | null; amount: number; kind: string }>`
          select id, label, amount, kind from templated_rows order by id`.execute(database.db)
      ).rows.map((row) => ({ ...row, amount: Number(row.amount) }));

    before(async () => {
      database = await openTestDatabase(dialect, { migrate: false });
      await sql`create table templated_rows (id text primary key, label text, amount bigint not null, kind text)`.execute(
        database.db,
      );
    });
    after(async () => {
      await database?.close();
    });

    it('runs each call with its own values, constants kept, results and changed rows returned', async () => {
      const tricky = 'it\'s "quoted", ünïcode; drop table templated_rows; --';
      assert.deepEqual(await insertRow.rows(database.db, { id: 't1', label: tricky, amount: 9_007_199_254_740 }), [
        { id: 't1' },
      ]);
      assert.deepEqual(await insertRow.rows(database.db, { id: 't2', label: null, amount: 2 }), [{ id: 't2' }]);
      assert.equal(await renameIfAmount.changedRows(database.db, { id: 't2', label: 'renamed', amount: 2 }), 1);
      assert.equal(await renameIfAmount.changedRows(database.db, { id: 't2', label: 'not this', amount: 3 }), 0);
      assert.deepEqual(await stored(), [
        { id: 't1', label: tricky, amount: 9_007_199_254_740, kind: 'fixed' },
        { id: 't2', label: 'renamed', amount: 2, kind: 'fixed' },
      ]);
      const above = await rowsAbove.rows(database.db, { least: 5 });
      assert.deepEqual(
        above.map((row) => row.id),
        ['t1'],
      );
      assert.equal(await rowsAbove.firstRow(database.db, { least: Number.MAX_SAFE_INTEGER }), undefined);
    });

    it('joins the transaction it is given: a rollback takes its write back', async () => {
      await assert.rejects(
        withTransaction(database.db, async (trx) => {
          await insertRow.rows(trx, { id: 'rolled-back', label: 'x', amount: 1 });
          assert.equal(
            (await rowsAbove.rows(trx, { least: 0 })).some((row) => row.id === 'rolled-back'),
            true,
          );
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal(
        (await stored()).some((row) => row.id === 'rolled-back'),
        false,
      );
    });

    it('builds once per handle, its transactions included, and again for a handle with other plugins', async () => {
      let builds = 0;
      const counting = new StatementTemplate<{ id: string }, { id: string }>((db, slots) => {
        builds += 1;
        return own(db).selectFrom('templated_rows').select('id').where('id', '=', slots.id);
      });
      await counting.rows(database.db, { id: 't1' });
      await counting.rows(database.db, { id: 't2' });
      await withTransaction(database.db, (trx) => counting.rows(trx, { id: 't1' }));
      assert.equal(builds, 1);
      await counting.rows(database.db.withPlugin(new StatementCounter()), { id: 't1' });
      assert.equal(builds, 2);
    });

    it("runs through a handle's plugins, which see every result", async () => {
      const counter = new StatementCounter();
      const counted = database.db.withPlugin(counter);
      await insertRow.rows(counted, { id: 'p1', label: null, amount: 7 });
      await insertRow.rows(counted, { id: 'p2', label: null, amount: 8 });
      assert.equal(counter.count, 2);
      assert.deepEqual(
        (await stored()).filter((row) => row.id.startsWith('p')).map((row) => row.amount),
        [7, 8],
      );
    });

    it("writes whole rows through the template of each row's set of columns", async () => {
      const updates = new RowTemplates((db, row: { id: string; label?: string | null; amount?: number }) => {
        const { id, ...columns } = row;
        return own(db).updateTable('templated_rows').set(columns).where('id', '=', id);
      });
      const both = { id: 't1', label: 'both', amount: 11 };
      const labelOnly = { id: 't2', label: null };
      assert.equal(await updates.of(both).changedRows(database.db, both), 1);
      assert.equal(await updates.of(labelOnly).changedRows(database.db, labelOnly), 1);
      assert.notEqual(updates.of(both), updates.of(labelOnly));
      const rows = (await stored()).filter((row) => row.id === 't1' || row.id === 't2');
      assert.deepEqual(
        rows.map((row) => [row.id, row.label, row.amount]),
        [
          ['t1', 'both', 11],
          ['t2', null, 2],
        ],
      );
    });

    it('refuses a missing value, and a slot computed with while building, writing nothing', async () => {
      const before = await stored();
      await assert.rejects(
        insertRow.rows(database.db, { id: 'missing', label: null } as never),
        /no value for slot "amount"/,
      );
      const computed = new StatementTemplate<{ amount: number }, never>((db, slots) =>
        own(db)
          .updateTable('templated_rows')
          .set({ amount: slots.amount + 1 }),
      );
      await assert.rejects(computed.changedRows(database.db, { amount: 1 }), /slot "amount" used as a value/);
      await assert.rejects(
        renameIfAmount.changedRows(database.db, { id: 't1', label: sql<string>`upper(label)` as never, amount: 11 }),
        /slot "label" given an SQL expression/,
      );
      assert.deepEqual(await stored(), before);
    });
  });
}
