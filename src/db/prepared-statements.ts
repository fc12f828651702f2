import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/**
 * Named (prepared) statements on PostgreSQL, transparently, for every parameterised statement the service repeats
 * (issue 14: "prepared statements on PostgreSQL where they pay").
 *
 * Sent unnamed, as Kysely does, each statement is parsed, analysed and planned again by the backend on every call,
 * and its full text crosses the socket each time. Named, a connection parses it once and then only binds and
 * executes; PostgreSQL also keeps a generic plan when it costs no more than a fresh one (plan_cache_mode auto).
 * `npm run bench -- prepared-statements` (a pass's wake-up read and the idempotency look-up, one connection): the
 * backend spent 282–300 µs per statement unnamed and 63–91 µs named, this process 298–406 µs against 142–235 µs
 * (2-core machine, load average 17, 2026-12-07). A statement is named the second time its text is seen, so one-off
 * statements never take a name; statements without parameters (BEGIN, COMMIT, pg-boss's scripts of several
 * statements) stay on the simple protocol, unnamed.
 *
 * A migration that changes the columns a named `select *` returns makes PostgreSQL refuse the old plan
 * ("cached plan must not change result type", SQLSTATE 0A000) on connections that prepared it before: that call
 * fails (the caller's usual retry covers it, as for any failed statement) and the text gets a new name, so the next
 * call prepares it afresh. Named statements need a session per connection: not behind a pooler in transaction mode.
 */

/** Distinct texts tracked per process; beyond this, new texts run unnamed (dynamic shapes cannot grow it for ever). */
const MAX_TRACKED_TEXTS = 5_000;

/** A text's name: null after its first sighting (not named yet). */
const names = new Map<string, string | null>();
let nextName = 0;

/** The name to send `text` under, or undefined to send it unnamed. */
function statementName(text: string): string | undefined {
  const name = names.get(text);
  if (typeof name === 'string') return name;
  if (name === null) {
    const assigned = `mb_${(nextName++).toString(36)}`;
    names.set(text, assigned);
    return assigned;
  }
  if (names.size < MAX_TRACKED_TEXTS) names.set(text, null);
  return undefined;
}

/** PostgreSQL refused a prepared statement's old plan after a schema change (see the module comment). */
function isStalePlan(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === '0A000' &&
    error.message.includes('cached plan must not change result type')
  );
}

/** A pooled client that sends parameterised statements by name (see the module comment). */
class PreparingClient implements PostgresPoolClient {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    const client = this.#client as unknown as PostgresPoolClient;
    if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor);
    const values = [...(parameters ?? [])];
    const name = values.length > 0 ? statementName(sqlOrCursor) : undefined;
    if (name === undefined) return client.query<R>(sqlOrCursor, values);
    const named = this.#client.query({ name, text: sqlOrCursor, values }) as unknown as Promise<PostgresQueryResult<R>>;
    return named.catch((error: unknown) => {
      if (isStalePlan(error) && names.get(sqlOrCursor) === name) names.set(sqlOrCursor, null);
      throw error;
    });
  }

  release(): void {
    this.#client.release();
  }
}

/** Kysely's pool seam over `pool`, one `PreparingClient` per pg client (Kysely keys its connections by client). */
export function preparingPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PreparingClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      let preparing = clients.get(client);
      if (!preparing) {
        preparing = new PreparingClient(client);
        clients.set(client, preparing);
      }
      return preparing;
    },
    end: () => pool.end(),
  };
}
