import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from '../src/db/migrate.js';
import { openDatabase } from '../src/db/open-database.js';
import type { Database } from '../src/db/schema.js';
import { ensureDefaultOrganization } from '../src/orgs/organizations.js';
import { laneWakeAt } from '../src/outbox/dispatcher.js';
import { findIdempotentMessageOrThrow } from '../src/outbox/message-store.js';
import { systemClock } from '../src/platform/clock.js';
import { Secret } from '../src/platform/secret.js';
import { integerArg } from './support/args.js';
import { createBenchDatabase } from './support/bench-database.js';
import { cpuSeconds } from './support/processes.js';
import { fixed, loadLine, machineLine, markdownTable, runBenchmark } from './support/report.js';

/**
 * Prepared statements on PostgreSQL (src/db/prepared-statements.ts, issue 14): the service's own statements replayed
 * on one connection, sent as the service sends them (`openDatabase`: named once seen twice) and, in the same run, as
 * Kysely sends them by default (a plain `pg.Pool`: unnamed, parsed and planned on every call). Reported per call:
 * the backend's CPU (from /proc of its pid), this process's CPU and the wall time.
 * Statements: a pass's wake-up read (`laneWakeAt`: min() probes of the lane index per lane of an unnest input) and the
 * accept path's idempotency look-up (`findIdempotentMessageOrThrow`: one index probe), over an outbox of
 * `--messages` queued messages in `--lanes` lanes.
 *
 *   node --import tsx bench/prepared-statements.ts [--calls 5000] [--messages 20000] [--lanes 1000]
 *   npm run bench -- prepared-statements
 */

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '5000' },
    messages: { type: 'string', default: '20000' },
    lanes: { type: 'string', default: '1000' },
  },
});
const calls = integerArg('calls', args.calls);
const messages = integerArg('messages', args.messages);
const lanes = integerArg('lanes', args.lanes);

interface Figures {
  backendUs: number;
  clientUs: number;
  wallUs: number;
}

async function seed(db: Kysely<Database>): Promise<void> {
  await migrateToLatest(db);
  const organization = await ensureDefaultOrganization(db, systemClock);
  await sql`
    insert into outbox_messages (id, organization_id, owner_external_id, provider, lane, status, from_address, subject,
      payload, recipient_count, attachment_count, size_bytes, idempotency_key, request_hash, internet_message_id,
      next_attempt_at, attempts, created_at, updated_at)
    select 'msg_' || i, ${organization.id}, 'owner', 'microsoft', 'lane_' || (i % ${lanes}), 'queued', 'a@example.com',
      'Hello', '{}', 1, 0, 100, 'key_' || i, 'hash', '<mb.' || i || '@bench>', i, 0, i, i
    from generate_series(1, ${messages}) as i`.execute(db);
  await sql`analyze outbox_messages`.execute(db);
}

/** Replays the statements `calls` times on `db`'s one connection; CPU of that connection's backend and of us. */
async function replay(db: Kysely<Database>, organizationId: string): Promise<Figures> {
  const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
  const pid = rows[0]?.pid;
  if (pid === undefined) throw new Error('no backend pid');
  const backendBefore = cpuSeconds(pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    await laneWakeAt({ db, dialect: 'postgres' }, `lane_${i % lanes}`, 1_000);
    await findIdempotentMessageOrThrow(db, organizationId, { key: `key_${(i % messages) + 1}`, hash: 'hash' });
  }
  const wall = performance.now() - started;
  const client = process.cpuUsage(clientBefore);
  const statements = calls * 2;
  return {
    backendUs: ((cpuSeconds(pid) - backendBefore) * 1e6) / statements,
    clientUs: (client.user + client.system) / statements,
    wallUs: (wall * 1000) / statements,
  };
}

async function main(): Promise<void> {
  console.log('Prepared statements benchmark');
  console.log(machineLine());
  console.log(loadLine('start'));
  console.log(
    `run: ${calls} calls of 2 statements per mode, ${messages} queued messages in ${lanes} lanes, one connection`,
  );
  const database = await createBenchDatabase('postgres', 'prepared');
  try {
    const named = await openDatabase({ dialect: 'postgres', url: new Secret(database.url) }, { poolSize: 1 });
    const unnamed = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 1 }) }),
    });
    try {
      await seed(named.db);
      const organizationId = (await ensureDefaultOrganization(named.db, systemClock)).id;
      const results: Array<[string, Figures]> = [];
      // Twice each, alternating, so neither mode has the machine to itself.
      for (const round of [1, 2]) {
        results.push([`unnamed (Kysely's default), round ${round}`, await replay(unnamed, organizationId)]);
        results.push([`named (openDatabase), round ${round}`, await replay(named.db, organizationId)]);
      }
      const baseline = results
        .filter(([label]) => label.startsWith('unnamed'))
        .reduce((sum, [, figures]) => sum + figures.backendUs + figures.clientUs, 0);
      const total = (figures: Figures) => figures.backendUs + figures.clientUs;
      console.log('');
      console.log(
        markdownTable(
          [
            'Statements sent',
            'Backend CPU µs/statement',
            'Client CPU µs/statement',
            'Wall µs/statement',
            'CPU vs. unnamed',
          ],
          results.map(([label, figures]) => [
            label,
            fixed(figures.backendUs, 1),
            fixed(figures.clientUs, 1),
            fixed(figures.wallUs, 1),
            fixed(total(figures) / (baseline / 2), 2),
          ]),
        ),
      );
      console.log(loadLine('end'));
    } finally {
      await unnamed.destroy();
      await named.close();
    }
  } finally {
    await database.drop();
  }
}

await runBenchmark(main);
