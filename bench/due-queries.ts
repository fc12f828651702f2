import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database, DbDialect } from '../src/db/schema.js';
import { createOrganization } from '../src/orgs/organizations.js';
import { laneWakeAt } from '../src/outbox/dispatcher.js';
import { sweepHeldMessages } from '../src/outbox/held-messages.js';
import { claimLane, lanesWithDueWork } from '../src/outbox/pacing.js';
import type { ServiceDeps } from '../src/services.js';
import { integerArg } from './support/args.js';
import { type BenchDatabase, createBenchDatabase } from './support/bench-database.js';
import { benchServiceEnv, composeBenchService, newBenchCredentials } from './support/fleet.js';
import { loadLine, machineLine, runBenchmark } from './support/report.js';

/**
 * What the outbox's due-work queries read with a backlog (issue 14: "work that costs what is due, never what is
 * queued"): `--backlog` messages over `--lanes` lanes (1 % in `sending`, half of those with an expired lease; 1 %
 * `held`; the rest queued, due except in a tenth of the lanes and half the messages of another tenth), pacing rows
 * for two lanes in three (some throttled or paced), then the service's own statements — finding lanes with due work,
 * a lane's claim (its usage and due reads, one statement on PostgreSQL; the batched writes), a pass's wake-up time,
 * the held-message sweep — captured as the service compiles them and run again, before and after:
 * - before: the statements as they were (the due-lane scan and the wake-up aggregate are kept below as the
 *   baselines) without migration 0021's indexes (dropped inside the rolled-back transaction that runs them);
 * - after: the service's statements with them.
 * PostgreSQL: `EXPLAIN (ANALYZE, BUFFERS)` inside a rolled-back transaction — rows returned, rows the plan's scans
 * read, buffers, ms. SQLite (no buffer counts): the median time of each read statement and its query plan.
 * The new due-lane query must return the same lanes in the same order as the baseline (checked, or the run fails).
 *
 *   node --import tsx bench/due-queries.ts [--backlog 100000] [--lanes 1000]
 *   npm run bench -- due-queries
 */

const { values: args } = parseArgs({
  options: { backlog: { type: 'string', default: '100000' }, lanes: { type: 'string', default: '1000' } },
});
const BACKLOG = integerArg('backlog', args.backlog);
const LANES = integerArg('lanes', args.lanes);

/** Migration 0021's indexes: dropped (in a transaction rolled back) for the "before" figures. */
const DUE_INDEXES = [
  'outbox_messages_queued_lane_idx',
  'outbox_messages_sending_lane_idx',
  'outbox_messages_held_expiry_idx',
];

/** The baseline: `lanesWithDueWork` before issue 14 (src/outbox/pacing.ts), a scan of every queued message. */
async function lanesWithDueWorkBefore(db: Kysely<Database>, now: number, maxLanes: number): Promise<string[]> {
  const rows = await db
    .selectFrom('outbox_messages as m')
    .leftJoin('outbox_pacing as p', 'p.lane', 'm.lane')
    .select(['m.lane', sql<number>`min(coalesce(p.last_claimed_at, 0))`.as('served')])
    .where((eb) =>
      eb.or([
        eb.and([eb('m.status', '=', 'queued'), eb('m.next_attempt_at', '<=', now)]),
        eb.and([eb('m.status', '=', 'sending'), eb('m.lease_until', '<', now)]),
      ]),
    )
    .where((eb) => eb.or([eb('p.throttled_until', 'is', null), eb('p.throttled_until', '<=', now)]))
    .where((eb) => eb.or([eb('p.paced_until', 'is', null), eb('p.paced_until', '<=', now)]))
    .groupBy('m.lane')
    .orderBy('served')
    .orderBy('m.lane')
    .limit(maxLanes)
    .execute();
  return rows.map((row) => row.lane);
}

/** The baseline of `laneWakeAt`'s read (src/outbox/dispatcher.ts): an aggregate over the lane's queued and sending rows. */
async function laneWakeAtBefore(db: Kysely<Database>, lane: string): Promise<unknown> {
  const pause = (column: 'throttled_until' | 'paced_until') =>
    db.selectFrom('outbox_pacing').select(column).where('lane', '=', lane);
  return db
    .selectFrom('outbox_messages')
    .select((eb) => [
      eb.fn
        .min<number | null>(eb.case().when('status', '=', 'queued').then(eb.ref('next_attempt_at')).end())
        .as('queued'),
      eb.fn.min<number | null>(eb.case().when('status', '=', 'sending').then(eb.ref('lease_until')).end()).as('leased'),
      pause('throttled_until').as('throttled_until'),
      pause('paced_until').as('paced_until'),
    ])
    .where('lane', '=', lane)
    .where('status', 'in', ['queued', 'sending'])
    .executeTakeFirst();
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Scans of a table or index (not of a CTE's or a subquery's result, which would count the same rows twice). */
const TABLE_SCANS = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);

/** Rows read by the plan's scans (rows returned by each table scan plus those its filter removed, every loop). */
function scanned(node: PlanNode): number {
  const own = TABLE_SCANS.has(node['Node Type'])
    ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) *
      node['Actual Loops']
    : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + scanned(child), 0);
}

function scans(node: PlanNode): string[] {
  const own = TABLE_SCANS.has(node['Node Type'])
    ? [
        `${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''} on ${node['Relation Name'] ?? '?'}` +
          (node['Actual Loops'] > 1 ? ` ×${node['Actual Loops']}` : ''),
      ]
    : [];
  return [...own, ...(node.Plans ?? []).flatMap(scans)];
}

type Run = (db: Kysely<Database>, deps: ServiceDeps) => Promise<unknown>;

/** One thing the service does: the same run before and after, or a baseline run for "before". */
interface Case {
  label: string;
  after: Run;
  before?: Run;
}

function cases(now: number): Case[] {
  return [
    {
      label: 'lanes with due work (50)',
      before: (db) => lanesWithDueWorkBefore(db, now, 50),
      after: (db) => lanesWithDueWork(db, now, 50),
    },
    {
      label: 'claim of lane-1 (4)',
      after: (_db, deps) => claimLane(deps, 'lane-1', { workerId: 'bench', leaseMs: 120_000, max: 4 }),
    },
    // lane-1's messages are all in `sending` (n % 100 = 1), lane-5's all queued.
    ...['lane-1', 'lane-5'].map((lane) => ({
      label: `wake-up time of ${lane}`,
      before: (db: Kysely<Database>) => laneWakeAtBefore(db, lane),
      after: (_db: Kysely<Database>, deps: ServiceDeps) => laneWakeAt(deps, lane, now),
    })),
    { label: 'held-message sweep', after: (_db, deps) => sweepHeldMessages(deps) },
  ];
}

/** The backlog (portable SQL: a recursive CTE counts the rows on both dialects). */
async function seed(db: Kysely<Database>, organizationId: string, now: number): Promise<void> {
  const later = now + 3_600_000;
  // better-sqlite3 binds a number as a REAL, and SQLite's % of a REAL is a REAL ('lane-1.0'): cast it.
  const lanes = sql`cast(${LANES} as integer)`;
  await sql`
    with recursive s (n) as (select 1 union all select n + 1 from s where n < ${BACKLOG})
    insert into outbox_messages (id, organization_id, account_id, owner_external_id, provider, lane, status,
      from_address, subject, payload, recipient_count, attachment_count, size_bytes, internet_message_id,
      next_attempt_at, lease_owner, lease_until, attempts, held_reason, held_since, held_expires_at,
      created_at, updated_at)
    select 'msg_' || n, ${organizationId}, null, null, 'default', 'lane-' || (n % ${lanes}),
      case when n % 100 = 1 then 'sending' when n % 100 = 2 then 'held' else 'queued' end,
      'a@bench.example', 's', '{}', 1, 0, 100, '<' || n || '@bench.example>',
      case
        when n % 100 in (1, 2) then null
        when (n % ${lanes}) % 10 = 3 then cast(${later} as bigint)
        when (n % ${lanes}) % 10 = 4 and n % 2 = 0 then cast(${later} as bigint)
        else cast(${now - 1000} as bigint)
      end,
      case when n % 100 = 1 then 'dead-worker' end,
      case when n % 200 = 1 then cast(${now - 60_000} as bigint) when n % 100 = 1 then cast(${now + 60_000} as bigint) end,
      case when n % 100 = 1 then 1 else 0 end,
      case when n % 100 = 2 then 'reconnect_required' end, case when n % 100 = 2 then cast(${now} as bigint) end,
      case when n % 100 = 2 then cast(${now + 86_400_000} as bigint) end, cast(${now} as bigint), cast(${now} as bigint)
    from s
  `.execute(db);
  await sql`
    with recursive k (n) as (select 0 union all select n + 1 from k where n < ${LANES - 1})
    insert into outbox_pacing (lane, throttled_until, paced_until, last_claimed_at, updated_at)
    select 'lane-' || n,
      case when n % 17 = 0 then cast(${now + 60_000} as bigint) when n % 23 = 0 then cast(${now - 1} as bigint) end,
      case when n % 19 = 0 then cast(${now + 60_000} as bigint) end,
      cast(${now} as bigint) - (n % 50) * 1000, cast(${now} as bigint)
    from k where n % 3 <> 0
  `.execute(db);
}

/** The baseline and the new due-lane query agree at several times and limits, or the run fails. */
async function checkSameLanes(db: Kysely<Database>, now: number): Promise<string> {
  const checks: string[] = [];
  for (const at of [now, now - 3_600_000, now + 3_600_001]) {
    for (const limit of [50, LANES + 1]) {
      const before = await lanesWithDueWorkBefore(db, at, limit);
      const after = await lanesWithDueWork(db, at, limit);
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        throw new Error(`due lanes differ at now${at - now >= 0 ? '+' : ''}${at - now} ms, limit ${limit}`);
      }
      checks.push(String(after.length));
    }
  }
  return `same lanes in the same order as the baseline at now, now − 1 h and now + 1 h, limits 50 and ${LANES + 1} (${checks.join(', ')} lanes)`;
}

/** Runs each case once through a Kysely that records the statements it compiles; returns them per case and side. */
async function captureAll(
  logging: Kysely<Database>,
  captured: CompiledQuery[],
  deps: ServiceDeps,
  now: number,
): Promise<Array<{ label: string; before: CompiledQuery[]; after: CompiledQuery[] }>> {
  const run = async (fn: Run) => {
    captured.length = 0;
    await fn(logging, deps);
    return captured.filter((query) => !/^(begin|commit|rollback)/i.test(query.sql));
  };
  const out = [];
  for (const each of cases(now)) {
    // The baseline first: a claim's writes would change what it reads.
    const before = each.before ? await run(each.before) : undefined;
    const after = await run(each.after);
    out.push({ label: each.label, before: before ?? after, after });
  }
  return out;
}

function trimmed(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** The service on the bench's database, migrated; no emulator answers (nothing here calls Microsoft). */
function composeOnDatabase(database: BenchDatabase) {
  return composeBenchService(
    benchServiceEnv({
      emulatorUrl: 'http://127.0.0.1:9',
      ...newBenchCredentials(),
      databaseUrl: database.url,
      extra: { LOG_LEVEL: 'silent' },
    }),
  );
}

async function postgres(now: number): Promise<void> {
  const database = await createBenchDatabase('postgres', 'due');
  const service = await composeOnDatabase(database);
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  const captured: CompiledQuery[] = [];
  const logging = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  try {
    const organization = await createOrganization(service.deps.db, service.deps.clock, { name: 'Bench' });
    await seed(service.deps.db, organization.id, now);
    await pool.query('analyze');
    console.log(`\nPostgreSQL: ${BACKLOG} messages over ${LANES} lanes`);
    console.log(await checkSameLanes(service.deps.db, now));
    const explain = async (query: CompiledQuery, withoutDueIndexes: boolean): Promise<string> => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        if (withoutDueIndexes) for (const name of DUE_INDEXES) await client.query(`drop index ${name}`);
        const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(
          `explain (analyze, buffers, format json) ${query.sql}`,
          [...query.parameters],
        );
        const plan = rows[0]!['QUERY PLAN'][0]!;
        const root = plan.Plan;
        return (
          `${root['Actual Rows']} rows, scans read ${scanned(root)} rows, ` +
          `${root['Shared Hit Blocks'] + root['Shared Read Blocks']} buffers, ${plan['Execution Time'].toFixed(2)} ms ` +
          `[${scans(root).join('; ')}]`
        );
      } catch (error) {
        // An INSERT of rows the service already wrote cannot run twice: its plan is a plain insert anyway.
        return `not run again (${(error as Error).message})`;
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    const deps = { ...service.deps, db: logging };
    for (const each of await captureAll(logging, captured, deps, now)) {
      const count = Math.max(each.before.length, each.after.length);
      for (let index = 0; index < count; index++) {
        const before = each.before[index];
        const after = each.after[index];
        const name = count > 1 ? `${each.label} #${index + 1}` : each.label;
        if (before) console.log(`${name}, before: ${await explain(before, true)}`);
        if (after) console.log(`${name}, after:  ${await explain(after, false)}`);
        if (before && before !== after) console.log(`    before: ${trimmed(before.sql)}`);
        if (after) console.log(`    ${before === after ? 'both' : 'after'}: ${trimmed(after.sql)}`);
      }
    }
  } finally {
    await logging.destroy();
    await service.close();
    await database.drop();
  }
}

/** Median wall time of `fn` (at least 5 runs, then until 300 ms or 201 runs). */
function medianMs(fn: () => void): { ms: number; runs: number } {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 || (times.length < 201 && performance.now() - start < 300)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, runs: times.length };
}

async function sqlite(now: number): Promise<void> {
  const database = await createBenchDatabase('sqlite', 'due');
  const service = await composeOnDatabase(database);
  const connection = new SqliteDatabase(database.url.slice('sqlite:'.length));
  connection.pragma('busy_timeout = 5000');
  const captured: CompiledQuery[] = [];
  const logging = new Kysely<Database>({
    dialect: new SqliteDialect({ database: connection }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  try {
    const organization = await createOrganization(service.deps.db, service.deps.clock, { name: 'Bench' });
    await seed(service.deps.db, organization.id, now);
    // No ANALYZE: the service never runs one on SQLite, so the planner works without statistics here as there.
    console.log(`\nSQLite: ${BACKLOG} messages over ${LANES} lanes (median wall time of each read; no buffer counts)`);
    console.log(await checkSameLanes(service.deps.db, now));
    const time = (query: CompiledQuery, withoutDueIndexes: boolean): string => {
      connection.exec('begin');
      try {
        if (withoutDueIndexes) for (const name of DUE_INDEXES) connection.exec(`drop index ${name}`);
        // Writes are not timed (run again, they would write again); the reads are what this is about.
        if (/^\s*(insert|update|delete)/i.test(query.sql)) return 'a write: not timed';
        const statement = connection.prepare(query.sql);
        const parameters = [...query.parameters] as unknown[];
        const rows = statement.all(...parameters).length;
        const plan = connection
          .prepare(`explain query plan ${query.sql}`)
          .all(...parameters)
          .map((row) => (row as { detail: string }).detail)
          .join('; ');
        const { ms, runs } = medianMs(() => statement.all(...parameters));
        return `${rows} rows, ${ms.toFixed(3)} ms (median of ${runs}) [${plan}]`;
      } finally {
        connection.exec('rollback');
      }
    };
    const deps: ServiceDeps = { ...service.deps, db: logging, dialect: 'sqlite' as DbDialect };
    for (const each of await captureAll(logging, captured, deps, now)) {
      const count = Math.max(each.before.length, each.after.length);
      for (let index = 0; index < count; index++) {
        const before = each.before[index];
        const after = each.after[index];
        const name = count > 1 ? `${each.label} #${index + 1}` : each.label;
        if (before) console.log(`${name}, before: ${time(before, true)}`);
        if (after) console.log(`${name}, after:  ${time(after, false)}`);
      }
    }
  } finally {
    await logging.destroy();
    await service.close();
    await database.drop();
  }
}

async function main(): Promise<void> {
  console.log(`Due-work queries: ${BACKLOG} messages over ${LANES} lanes, before and after migration 0021`);
  console.log(machineLine());
  console.log(loadLine('start'));
  const now = Date.now();
  await postgres(now);
  await sqlite(now);
  console.log(loadLine('end'));
}

await runBenchmark(main);
