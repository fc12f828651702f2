import { type Kysely, sql } from 'kysely';

// The open operator alerts by kind and reason. Every successful token refresh looks for open `app.misconfigured`
// alerts to resolve (src/health/app-alerts.ts), and raising or resolving an alert looks for an open one of its kind
// and reason: without an index each of those read the whole table (resolved alerts included, which accumulate).
// Partial: only open alerts are in it, so it stays as small as what is open. @see issue 14

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('operator_alerts_open_idx')
    .on('operator_alerts')
    .columns(['kind', 'reason'])
    .where(sql.ref('resolved_at'), 'is', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('operator_alerts_open_idx').execute();
}
