import { DEFAULT_MIGRATION_TABLE, sql } from 'kysely';
import { migrations } from '../db/migrations/index.js';
import { settleWithin } from '../platform/settle-within.js';
import type { ServiceDeps } from '../services.js';
import { compareRingWithRecords } from '../vault/token-vault.js';
import type { ServiceLifecycle } from './lifecycle.js';

/**
 * Readiness (`/readyz`): whether this process should be sent work now. Liveness (`/healthz`) only says the process
 * answers; readiness also needs the database to answer, every migration this build knows to be applied (a process
 * of a newer build started before `mailbridge migrate` ran must not take traffic), the key ring to still be the one
 * the stored data was wrapped under (checked in full at start-up by `assertKeyRingOpensData`; here its check values
 * are compared again, one tiny read), and the process not to be shutting down.
 */

export type ReadinessCheckName = 'shutdown' | 'database' | 'migrations' | 'keyRing';

export interface ReadinessCheck {
  ok: boolean;
  /** Why it failed, for operators: never a secret, a URL or a driver message (those may carry hosts and users). */
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<ReadinessCheckName, ReadinessCheck>;
  /** The names of the checks that failed, in the order above. */
  failed: ReadinessCheckName[];
}

export interface ReadinessOptions {
  /** Each database check gives up after this long (default 2 s): a probe must answer even when the database hangs. */
  timeoutMs?: number;
}

const NOT_CHECKED = (why: string): ReadinessCheck => ({ ok: false, detail: `not checked: ${why}` });

export async function checkReadiness(
  deps: Pick<ServiceDeps, 'db' | 'vault'>,
  lifecycle: ServiceLifecycle,
  options: ReadinessOptions = {},
): Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  if (lifecycle.draining) {
    // Shutting down: say so at once, without touching a database that may be closing.
    return result({
      shutdown: { ok: false, detail: 'shutting down' },
      database: NOT_CHECKED('shutting down'),
      migrations: NOT_CHECKED('shutting down'),
      keyRing: NOT_CHECKED('shutting down'),
    });
  }
  const database = await withTimeout(timeoutMs, async () => {
    await sql`select 1`.execute(deps.db);
    return { ok: true };
  });
  if (!database.ok) {
    return result({
      shutdown: { ok: true },
      database,
      migrations: NOT_CHECKED('database unavailable'),
      keyRing: NOT_CHECKED('database unavailable'),
    });
  }
  const [migrationsCheck, keyRing] = await Promise.all([
    withTimeout(timeoutMs, async () => {
      const rows = await deps.db
        .selectFrom(sql.table(DEFAULT_MIGRATION_TABLE).as('m'))
        .select(sql<string>`name`.as('name'))
        .execute();
      const applied = new Set(rows.map((row) => row.name));
      const pending = Object.keys(migrations).filter((name) => !applied.has(name));
      return pending.length === 0 ? { ok: true } : { ok: false, detail: `pending migrations: ${pending.join(', ')}` };
    }),
    withTimeout(timeoutMs, async () => {
      const { mismatched: wrong } = await compareRingWithRecords(deps.db, deps.vault.keyRing);
      return wrong.length === 0
        ? { ok: true }
        : {
            ok: false,
            detail: `MAILBRIDGE_KEYS holds another key under id ${wrong.map((id) => `"${id}"`).join(', ')}`,
          };
    }),
  ]);
  return result({ shutdown: { ok: true }, database, migrations: migrationsCheck, keyRing });
}

function result(checks: Record<ReadinessCheckName, ReadinessCheck>): Readiness {
  const failed = (Object.keys(checks) as ReadinessCheckName[]).filter((name) => !checks[name].ok);
  return { ready: failed.length === 0, checks, failed };
}

function withTimeout(timeoutMs: number, check: () => Promise<ReadinessCheck>): Promise<ReadinessCheck> {
  return settleWithin(
    timeoutMs,
    check().catch((error: unknown): ReadinessCheck => ({ ok: false, detail: describeFailure(error) })),
    (): ReadinessCheck => ({ ok: false, detail: `no answer within ${timeoutMs} ms` }),
  );
}

/** A driver error's code (ECONNREFUSED, 57P03, SQLITE_BUSY…) or class name: never its message. */
function describeFailure(error: unknown): string {
  if (error && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return `error ${code}`;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name !== 'Error') return `error ${name.slice(0, 40)}`;
  }
  return 'error';
}
