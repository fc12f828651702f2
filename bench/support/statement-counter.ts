import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

/**
 * A Kysely plugin that counts the SQL statements a process runs, by kind (select, insert, update, delete, raw), as
 * they are compiled: `db.withPlugin(counter)` on the connection a benchmark's worker-like process composes the
 * service with. pg-boss's statements and raw `sql` go through the same executor and are counted as `raw`.
 */
export class StatementCounter implements KyselyPlugin {
  #counts: Record<string, number> = {};

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const kind = args.node.kind.startsWith('Raw') ? 'raw' : args.node.kind.replace(/QueryNode$/, '').toLowerCase();
    this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
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
