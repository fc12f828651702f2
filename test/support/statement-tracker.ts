import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

interface Seen {
  what: string;
  at: number;
}

/**
 * The last statement a test service started and the last one it finished (kind and tables, never values), for
 * the stall report (stall-report.ts). When SQLite's one connection is held by a transaction that never ends, the
 * last one finished is that transaction's, and the last one started is usually the one waiting behind it. A plugin
 * sees statements only: BEGIN and COMMIT are the driver's.
 */
export class StatementTracker implements KyselyPlugin {
  readonly #names = new WeakMap<object, string>();
  #lastStarted: Seen | undefined;
  #lastFinished: Seen | undefined;

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    const what = describeStatement(node);
    this.#names.set(queryId, what);
    this.#lastStarted = { what, at: Date.now() };
    return node;
  }

  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.#lastFinished = { what: this.#names.get(queryId) ?? 'a statement', at: Date.now() };
    return result;
  }

  describe(now = Date.now()): string {
    const ago = (seen: Seen | undefined) =>
      seen === undefined ? 'none' : `${seen.what}, ${Math.round((now - seen.at) / 1000)} s ago`;
    return `last statement started: ${ago(this.#lastStarted)}; last finished: ${ago(this.#lastFinished)}`;
  }
}

/** `select accounts, account_tokens`: the statement's kind and the first tables it names. */
function describeStatement(node: RootOperationNode): string {
  const kind = node.kind.replace(/(Query)?Node$/, '').toLowerCase();
  const tables = new Set<string>();
  collectTables(node, tables, 0);
  return [kind, [...tables].slice(0, 4).join(', ')].filter(Boolean).join(' ');
}

function collectTables(value: unknown, tables: Set<string>, depth: number): void {
  if (depth > 12 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collectTables(item, tables, depth + 1);
    return;
  }
  const node = value as { kind?: unknown; table?: { identifier?: { name?: unknown } } };
  const name = node.kind === 'TableNode' ? node.table?.identifier?.name : undefined;
  if (typeof name === 'string') tables.add(name);
  for (const child of Object.values(value)) collectTables(child, tables, depth + 1);
}
