import { type Kysely, type MigrationResult, Migrator } from 'kysely';
import { AppError } from '../errors/app-error.js';
import { migrations } from './migrations/index.js';
import type { Database } from './schema.js';

/**
 * Applies every pending migration, in name order, each in its own transaction. Kysely's migrator takes a lock
 * (a row lock on PostgreSQL), so several processes starting at once apply each migration exactly once. Returns
 * the names applied now (empty when already up to date). Throws `DB_MIGRATION_FAILED` naming the migration.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<{ applied: string[] }> {
  // On PostgreSQL the migrator's tables are named with our schema (the one the introspector reads: see
  // CurrentSchemaIntrospector), so its statements never reach another schema's `kysely_migration` (another app,
  // another test) through the search path. SQLite has no schemas: Kysely's SQLite introspector lists none.
  const migrationTableSchema = (await db.introspection.getSchemas())[0]?.name;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result: MigrationResult) => result.status === 'Error');
  if (error !== undefined) {
    throw new AppError(
      'DB_MIGRATION_FAILED',
      failed ? `database migration ${failed.migrationName} failed` : 'database migration failed',
      { cause: error, details: failed ? { migration: failed.migrationName } : undefined },
    );
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
