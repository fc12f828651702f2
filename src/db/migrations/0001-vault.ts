import type { Kysely } from 'kysely';

// Portable types on both dialects: text ids and base64url text (no blob/bytea), bigint epoch-ms timestamps
// (INTEGER affinity in SQLite). Migrations take Kysely<unknown>: they must not depend on today's schema types.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('vault_keys')
    .ifNotExists()
    .addColumn('key_id', 'text', (column) => column.primaryKey())
    .addColumn('check_value', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('vault_data_keys')
    .ifNotExists()
    .addColumn('subject_id', 'text', (column) => column.primaryKey())
    .addColumn('data_key_id', 'text', (column) => column.notNull().unique())
    .addColumn('wrapping_key_id', 'text', (column) => column.notNull())
    .addColumn('wrapped_key', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('rotated_at', 'bigint')
    .execute();

  // Rotation and the start-up check look data keys up by wrapping key.
  await db.schema
    .createIndex('vault_data_keys_wrapping_key_id_idx')
    .ifNotExists()
    .on('vault_data_keys')
    .columns(['wrapping_key_id', 'subject_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('vault_data_keys').ifExists().execute();
  await db.schema.dropTable('vault_keys').ifExists().execute();
}
