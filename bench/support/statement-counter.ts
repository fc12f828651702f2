import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

/**
 * A Kysely plugin that counts the SQL statements a process runs, by kind (select, insert, update, delete, raw), as
 * they return: `db.withPlugin(counter)` on the connection a benchmark's worker-like process composes the service with.
 * pg-boss's statements and raw `sql` go through the same executor and are counted as `raw`. Kysely also calls
 * `transformQuery` for every subquery and CTE a statement is built from, so the kind is noted there by query id and
 * counted in `transformResult`, which runs once per executed statement.
 */
export class StatementCounter implements KyselyPlugin {
  #counts: Record<string, number> = {};
  readonly #kinds = new WeakMap<QueryId, string>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const kind = args.node.kind.startsWith('Raw') ? 'raw' : args.node.kind.replace(/QueryNode$/, '').toLowerCase();
    this.#kinds.set(args.queryId, kind);
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const kind = this.#kinds.get(args.queryId) ?? 'raw';
    this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
    return args.result;
  }

  /** The counts since the last `take`, and a fresh start. */
  take(): Record<string, number> {
    const counts = this.#counts;
    this.#counts = {};
    return counts;
  }
}

export function totalStatements(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, value) => sum + value, 0);
}
