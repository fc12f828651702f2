import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import type { Database, DbDialect } from './schema.js';
import { withTransaction } from './transaction.js';

/**
 * Group commit on SQLite (issue 14): writes that callers ask for within the same turn of the event loop (the
 * `started` marks of a round's sends, the outcomes of sends that ended together, the claims of several lanes, the
 * messages accepted by requests that arrived together, the tokens of refreshes that ended together) are run one
 * after another in one transaction and committed once. Each caller still awaits its own write being committed
 * before it goes on, so nothing is reported (or sent) before it is durable; only the number of commits changes. A
 * commit is the largest single cost of a sent message in `mailbridge start` (README Performance, "Send pipeline on
 * a CPU budget").
 *
 * - Atomic per caller, as `withTransaction` is: if any write of a batch throws, the whole batch is rolled back and
 *   every write of it runs again in a transaction of its own, so each caller sees exactly what it would have seen
 *   alone (its own result or its own error) and no caller's writes depend on another's. The writes are database work
 *   only (no request to Microsoft inside): running one again after a rollback is the same as running it once.
 * - Bounded: at most `MAX_BATCH` writes and about `SLICE_MS` per transaction, then a turn of the event loop, so a
 *   burst of outcomes does not hold the process's HTTP requests behind one long synchronous slice (every SQLite
 *   statement runs synchronously, and the transaction keeps the single connection).
 * - SQLite only: on PostgreSQL each caller keeps its own transaction on its own pooled connection (batching there
 *   would serialise writes that run in parallel today, and widen lock footprints across workers; the lane claims of
 *   one turn share theirs, src/outbox/pacing.ts). Inside a transaction the caller already opened, the write joins
 *   it, as `withTransaction` does.
 */
export function groupCommit<T>(
  db: Kysely<Database>,
  dialect: DbDialect,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (dialect !== 'sqlite' || db.isTransaction) return withTransaction(db, fn);
  let batcher = batchers.get(db);
  if (!batcher) {
    batcher = new Batcher(db);
    batchers.set(db, batcher);
  }
  return batcher.add(fn);
}

/** Writes per transaction at most (an outcome is ~5 statements, a slice of lane claims ~50). */
const MAX_BATCH = 32;
/**
 * Time per transaction at most: the writes left over commit in the next turn, so the process's HTTP requests wait at
 * most about this long behind the background work (issue 14: accept p99 under 10 ms in `mailbridge start`).
 */
const SLICE_MS = 3;

interface Pending {
  fn: (trx: Transaction<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** One per database handle (a WeakMap: a closed handle's batcher goes with it). */
const batchers = new WeakMap<Kysely<Database>, Batcher>();

class Batcher {
  readonly #db: Kysely<Database>;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  add<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: the writes of sends whose answers arrived in the same poll phase join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      const batch = this.#pending.splice(0, MAX_BATCH);
      if (this.#pending.length > 0) this.#schedule();
      void this.#commit(batch);
    });
  }

  async #commit(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0]!;
      await withTransaction(this.#db, only.fn).then(only.resolve, only.reject);
      return;
    }
    let results: unknown[];
    try {
      results = await this.#db.transaction().execute(async (trx) => {
        const started = performance.now();
        const values: unknown[] = [];
        for (const each of batch) {
          // The slice's time bound: what is left waits for the next turn, after the requests that arrived meanwhile.
          if (values.length > 0 && performance.now() - started >= SLICE_MS) break;
          values.push(await each.fn(trx));
        }
        return values;
      });
    } catch {
      // Rolled back: each write again on its own, so one caller's failure (a lost lease, a constraint) is its own.
      for (const each of batch) {
        await withTransaction(this.#db, each.fn).then(each.resolve, each.reject);
        await yieldToEventLoop();
      }
      return;
    }
    const left = batch.slice(results.length);
    if (left.length > 0) {
      this.#pending.unshift(...left);
      this.#schedule();
    }
    for (const [index, value] of results.entries()) batch[index]!.resolve(value);
  }
}
