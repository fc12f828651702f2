import type { Compilable, CompiledQuery, DialectAdapter, Kysely, KyselyPlugin } from 'kysely';
import type { Database } from './schema.js';

/**
 * A statement whose text never changes, built and compiled by Kysely once per database, then run with each call's
 * values bound to its named slots (issue 14). Building and compiling a statement (Kysely's immutable operation
 * tree, its visitor, the garbage both leave) cost about as much CPU as SQLite running it: a tenth of a
 * `mailbridge start` process in the send pipeline benchmark (README Performance). The statements every accepted or
 * sent message runs are written as templates; the rest stay ordinary builders.
 *
 * `build` receives `slots`, stand-ins for the values: pass each to Kysely as a value (`where('id', '=', slots.id)`,
 * `values({ id: slots.id })`, `${slots.now}` in `sql`), never compute with it (arithmetic or string use of a slot
 * throws when the template is built), and never let a value choose the statement's shape (an `in` list, a column
 * present or left out): such statements stay builders. A value bound as `undefined` throws (Kysely leaves an
 * `undefined` column out of the statement, which a template cannot), and so does an SQL expression (it would be
 * part of the statement's text, not a value).
 *
 * Plugins of the handle (tests count statements with one) transform the statement once, when it is compiled for
 * that handle's plugins; their `transformResult` runs on every execution as usual.
 */
export class StatementTemplate<Values extends object, Row> {
  readonly #build: (db: Kysely<Database>, slots: Values) => Compilable<Row>;
  /** Per dialect adapter (one per database handle, shared by its transactions): the compilations per plugin list. */
  readonly #compiled = new WeakMap<DialectAdapter, Compilation<Row>[]>();

  constructor(build: (db: Kysely<Database>, slots: Values) => Compilable<Row>) {
    this.#build = build;
  }

  /** The rows the statement returns (a select, or a write's `returning`). */
  async rows(db: Kysely<Database>, values: Values): Promise<Row[]> {
    return (await db.executeQuery(this.#bind(db, values))).rows;
  }

  /** The first row the statement returns, if any. */
  async firstRow(db: Kysely<Database>, values: Values): Promise<Row | undefined> {
    return (await this.rows(db, values))[0];
  }

  /** How many rows a write changed. */
  async changedRows(db: Kysely<Database>, values: Values): Promise<number> {
    return Number((await db.executeQuery(this.#bind(db, values))).numAffectedRows ?? 0);
  }

  #bind(db: Kysely<Database>, values: Values): CompiledQuery<Row> {
    const compiled = this.#compiledFor(db);
    const parameters = compiled.parameters.map((parameter) => {
      if (!(parameter instanceof Slot)) return parameter;
      const value = (values as Record<string, unknown>)[parameter.name];
      if (value === undefined) throw new TypeError(`statement template: no value for slot "${parameter.name}"`);
      if (typeof value === 'object' && value !== null && 'toOperationNode' in value)
        throw new TypeError(`statement template: slot "${parameter.name}" given an SQL expression, not a value`);
      return value;
    });
    return { ...compiled, parameters };
  }

  #compiledFor(db: Kysely<Database>): CompiledQuery<Row> {
    const { adapter, plugins } = db.getExecutor();
    let compilations = this.#compiled.get(adapter);
    if (!compilations) {
      compilations = [];
      this.#compiled.set(adapter, compilations);
    }
    const known = compilations.find((compilation) => samePlugins(compilation.plugins, plugins));
    if (known) return known.compiled;
    const compiled = this.#build(db, slotsProxy<Values>()).compile();
    compilations.push({ plugins: [...plugins], compiled });
    return compiled;
  }
}

interface Compilation<Row> {
  plugins: readonly KyselyPlugin[];
  compiled: CompiledQuery<Row>;
}

function samePlugins(a: readonly KyselyPlugin[], b: readonly KyselyPlugin[]): boolean {
  return a.length === b.length && a.every((plugin, index) => plugin === b[index]);
}

/** A stand-in for a value, bound by name when the statement runs. */
class Slot {
  constructor(readonly name: string) {}

  [Symbol.toPrimitive](): never {
    throw new TypeError(`statement template: slot "${this.name}" used as a value while building; pass it to Kysely`);
  }
}

function slotsProxy<Values>(): Values {
  return new Proxy({} as Record<string, Slot>, {
    get: (_target, name) => {
      if (typeof name !== 'string') return undefined;
      return new Slot(name);
    },
  }) as Values;
}

/**
 * Templates of a statement over a whole row whose keys are its columns (an INSERT of the row): one template per set
 * of keys, built the first time that set is seen. `build` receives a row of slots with the same keys.
 */
export class RowTemplates<Row extends object, Result> {
  readonly #build: (db: Kysely<Database>, row: Row) => Compilable<Result>;
  readonly #byColumns = new Map<string, StatementTemplate<Row, Result>>();

  constructor(build: (db: Kysely<Database>, row: Row) => Compilable<Result>) {
    this.#build = build;
  }

  /** The template for `row`'s columns; run it with `row` itself. */
  of(row: Row): StatementTemplate<Row, Result> {
    const columns = Object.keys(row);
    const key = columns.join(',');
    let template = this.#byColumns.get(key);
    if (!template) {
      template = new StatementTemplate((db, slots: Row) =>
        this.#build(
          db,
          Object.fromEntries(columns.map((column) => [column, (slots as Record<string, unknown>)[column]])) as Row,
        ),
      );
      this.#byColumns.set(key, template);
    }
    return template;
  }
}
