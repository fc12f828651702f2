import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from './schema.js';

/**
 * Multi-row statements on PostgreSQL (issue 14): the same statement asked for by several callers within one turn of
 * the event loop (the `started` marks of the sends one claim just took, the outcomes of sends whose answers arrived
 * together, the wake-up reads and job completions of the lane passes those outcomes ended, the claims of those
 * lanes: src/outbox/pacing.ts, a transaction of a few statements) runs once over all their rows, one round trip
 * where each caller's was one. Every round trip costs the worker, the backend and the loopback (README Performance,
 * "Send pipeline on a CPU budget").
 *
 * - Each caller gets its own row's result, once the work has committed: it runs outside any transaction the callers
 *   hold and commits by itself (in a transaction of its own, if it has several statements), as each caller's did.
 * - Callers are batched by `key`: only writes of the same shape (the same step, the same organisation's event
 *   condition) can share a statement.
 * - If the statement fails, each input runs again in a statement of its own, so one caller's failure (a constraint,
 *   a bad value) stays its own, as in SQLite's group commit (src/db/group-commit.ts), which batches per transaction.
 *   A write that failed changed nothing, so running it again is the same as running it once.
 * - At most `maxRows` rows per statement; the rest go in further statements of the same turn.
 * - Inside a transaction the caller already opened, the write joins it, alone.
 */
export class TurnBatches<Input, Output> {
  readonly #run: (db: Kysely<Database>, inputs: readonly Input[]) => Promise<Output[]>;
  readonly #maxRows: number;
  /** Per database handle (a WeakMap: a closed handle's batches go with it), the inputs waiting for this turn's end. */
  readonly #waiting = new WeakMap<Kysely<Database>, Map<string, Waiting<Input, Output>[]>>();

  /** `run` writes the inputs' rows in one statement and returns one output per input, in the inputs' order. */
  constructor(run: (db: Kysely<Database>, inputs: readonly Input[]) => Promise<Output[]>, maxRows = 64) {
    this.#run = run;
    this.#maxRows = maxRows;
  }

  add(db: Kysely<Database>, key: string, input: Input): Promise<Output> {
    if (db.isTransaction) return this.#run(db, [input]).then((outputs) => outputs[0] as Output);
    let byKey = this.#waiting.get(db);
    if (!byKey) {
      byKey = new Map();
      this.#waiting.set(db, byKey);
    }
    const batch = byKey.get(key) ?? this.#open(db, byKey, key);
    return new Promise<Output>((resolve, reject) => batch.push({ input, resolve, reject }));
  }

  /** A new batch for `key`, written at the end of this turn. */
  #open(db: Kysely<Database>, byKey: Map<string, Waiting<Input, Output>[]>, key: string): Waiting<Input, Output>[] {
    const batch: Waiting<Input, Output>[] = [];
    byKey.set(key, batch);
    // setImmediate, not a microtask: the writes of sends whose answers arrived in the same poll phase join in.
    setImmediate(() => {
      byKey.delete(key);
      for (let at = 0; at < batch.length; at += this.#maxRows) {
        void this.#write(db, batch.slice(at, at + this.#maxRows));
      }
    });
    return batch;
  }

  async #write(db: Kysely<Database>, batch: Waiting<Input, Output>[]): Promise<void> {
    let outputs: Output[];
    try {
      outputs = await this.#run(
        db,
        batch.map((each) => each.input),
      );
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      await Promise.all(batch.map((each) => this.#write(db, [each])));
      return;
    }
    for (const [index, each] of batch.entries()) each.resolve(outputs[index] as Output);
  }
}

interface Waiting<Input, Output> {
  input: Input;
  resolve: (output: Output) => void;
  reject: (error: unknown) => void;
}

/** The PostgreSQL types a batched row's column may have. */
export type RowColumnType = 'text' | 'integer' | 'bigint';

/**
 * `select * from unnest($1::text[], $2::bigint[], …) as input (a, b, …)`: the rows of a multi-row statement as a
 * relation, one array parameter per column, so the statement's text is the same whatever the number of rows (one
 * prepared statement, src/db/prepared-statements.ts). Missing values are NULL.
 */
export function unnestRows<Row>(
  rows: readonly Row[],
  columns: ReadonlyArray<readonly [keyof Row & string, RowColumnType]>,
): RawBuilder<unknown> {
  const arrays = columns.map(
    ([name, type]) => sql`${sql.val(rows.map((row) => row[name] ?? null))}::${sql.raw(type)}[]`,
  );
  return sql`select * from unnest(${sql.join(arrays)}) as input (${sql.join(columns.map(([name]) => sql.ref(name)))})`;
}
