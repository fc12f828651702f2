import { parseArgs } from 'node:util';
import { type CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../src/db/schema.js';
import { createOrganization } from '../src/orgs/organizations.js';
import { laneWakeAt } from '../src/outbox/dispatcher.js';
import { sweepHeldMessages } from '../src/outbox/held-messages.js';
import { claimLane, lanesWithDueWork } from '../src/outbox/pacing.js';
import { integerArg } from './support/args.js';
import { createBenchDatabase } from './support/bench-database.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials } from './support/fleet.js';
import { runBenchmark } from './support/report.js';

/**
 * What the outbox's due-work queries read with a backlog (issue 14: "work that costs what is due, never what is
 * queued"): `--backlog` queued messages over `--lanes` lanes on PostgreSQL, a few in `sending` with expired leases
 * and a few `held`, then the service's own statements — finding lanes with due work, a lane's claim (its usage
 * read, expired-lease and due reads, the batched writes), a pass's wake-up time, the held-message sweep — captured
 * as the service compiles them and run again under `EXPLAIN (ANALYZE, BUFFERS)` inside a rolled-back transaction.
 * Prints, per statement, the rows it returned, the rows its scans read and the buffers it touched.
 *
 *   node --import tsx bench/due-queries.ts [--backlog 100000] [--lanes 1000]
 *   npm run bench -- due-queries
 */

const { values: args } = parseArgs({
  options: { backlog: { type: 'string', default: '100000' }, lanes: { type: 'string', default: '1000' } },
});
const BACKLOG = integerArg('backlog', args.backlog);
const LANES = integerArg('lanes', args.lanes);

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows read by the plan's scans (rows returned by each scan node plus those its filter removed). */
function scanned(node: PlanNode): number {
  const own = /Scan/.test(node['Node Type'])
    ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops']
    : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + scanned(child), 0);
}

function scans(node: PlanNode): string[] {
  const own = /Scan/.test(node['Node Type'])
    ? [`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''} on ${node['Relation Name'] ?? '?'}`]
    : [];
  return [...own, ...(node.Plans ?? []).flatMap(scans)];
}

async function main(): Promise<void> {
  console.log(`Due-work queries on PostgreSQL: ${BACKLOG} queued messages over ${LANES} lanes`);
  const database = await createBenchDatabase('postgres', 'due');
  const env = benchServiceEnv({
    emulatorUrl: 'http://127.0.0.1:9',
    ...newBenchCredentials(),
    databaseUrl: database.url,
    extra: { LOG_LEVEL: 'silent' },
  });
  const service = await composeBenchService(env);
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  const captured: CompiledQuery[] = [];
  const logging = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  try {
    const now = Date.now();
    const organization = await createOrganization(service.deps.db, service.deps.clock, { name: 'Bench' });
    // The backlog: queued and due, round robin over the lanes; 1 % sending with expired leases; 1 % held.
    await pool.query(
      `insert into outbox_messages (id, organization_id, account_id, owner_external_id, provider, lane, status,
         from_address, subject, payload, recipient_count, attachment_count, size_bytes, internet_message_id,
         next_attempt_at, lease_owner, lease_until, attempts, held_reason, held_since, held_expires_at,
         created_at, updated_at)
       select 'msg_' || lpad(n::text, 10, '0'), $4, null, null, 'smtp', 'lane-' || (n % $2),
         case when n % 100 = 1 then 'sending' when n % 100 = 2 then 'held' else 'queued' end,
         'a@bench.example', 's', '{}', 1, 0, 100, '<' || n || '@bench.example>',
         case when n % 100 in (1, 2) then null else $3::bigint - 1000 end,
         case when n % 100 = 1 then 'dead-worker' end, case when n % 100 = 1 then $3::bigint - 60000 end,
         case when n % 100 = 1 then 1 else 0 end,
         case when n % 100 = 2 then 'reconnect_required' end, case when n % 100 = 2 then $3::bigint end,
         case when n % 100 = 2 then $3::bigint + 86400000 end, $3::bigint, $3::bigint
       from generate_series(1, $1) as n`,
      [BACKLOG, LANES, now, organization.id],
    );
    await pool.query('analyze');
    const capture = async (label: string, run: () => Promise<unknown>) => {
      captured.length = 0;
      await run();
      const statements = captured.filter((query) => !/^(begin|commit|rollback)/i.test(query.sql));
      for (const [index, query] of statements.entries()) {
        const client = await pool.connect();
        try {
          await client.query('begin');
          const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(
            `explain (analyze, buffers, format json) ${query.sql}`,
            [...query.parameters],
          );
          const plan = rows[0]!['QUERY PLAN'][0]!;
          const root = plan.Plan;
          console.log(
            `${label} #${index + 1}: ${root['Actual Rows']} rows, scans read ${scanned(root)} rows, ` +
              `${root['Shared Hit Blocks'] + root['Shared Read Blocks']} buffers, ${plan['Execution Time'].toFixed(2)} ms ` +
              `[${scans(root).join('; ')}]`,
          );
          console.log(`    ${query.sql.replace(/\s+/g, ' ').slice(0, 240)}`);
        } catch (error) {
          // An INSERT of rows the service already wrote cannot run twice: its plan is a plain insert anyway.
          console.log(`${label} #${index + 1}: not run again (${(error as Error).message})`);
        } finally {
          await client.query('rollback');
          client.release();
        }
      }
    };
    const deps = { ...service.deps, db: logging };
    await capture('lanes with due work (50)', () => lanesWithDueWork(logging, now, 50));
    await capture('claim of lane-1 (4)', () =>
      claimLane(deps, 'lane-1', { workerId: 'bench', leaseMs: 120_000, max: 4 }),
    );
    await capture('wake-up time of lane-1', () => laneWakeAt(deps, 'lane-1', now));
    await capture('held-message sweep', () => sweepHeldMessages(deps));
  } finally {
    await logging.destroy();
    await service.close();
    await database.drop();
  }
}

await runBenchmark(main);
