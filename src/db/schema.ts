import type { AccountTables } from './tables/accounts.js';
import type { ConnectTables } from './tables/connect.js';
import type { DashboardTables } from './tables/dashboard.js';
import type { OutboxTables } from './tables/outbox.js';
import type { VaultTables } from './tables/vault.js';
import type { WarmupTables } from './tables/warmup.js';

/**
 * The whole database as Kysely sees it. Each module declares its own tables in `src/db/tables/<module>.ts`
 * (snake_case columns, text ids, epoch-ms timestamps as `number`, JSON as text) and adds its interface to the
 * `extends` list here; its migrations go in `src/db/migrations/` and are listed in `migrations/index.ts`.
 */
export interface Database
  extends VaultTables,
    AccountTables,
    DashboardTables,
    ConnectTables,
    OutboxTables,
    WarmupTables {}
export type DbDialect = 'sqlite' | 'postgres';
