import { CLI_ERRORS } from '../cli/cli-flags.js';
import { CONFIG_ERRORS } from '../config/load-config.js';
import { DASHBOARD_AUTH_ERRORS } from '../dashboard-auth/password-hash.js';
import { DB_ERRORS } from '../db/open-database.js';
import { type ErrorTable, mergeErrorTables } from '../errors/error-table.js';
import { GRAPH_ERRORS } from '../graph/graph-error.js';
import { JOB_ERRORS } from '../jobs/pg-boss-engine.js';
import { OPS_ERRORS } from '../ops/ops-routes.js';
import { OUTBOX_ERRORS } from '../outbox/outbox-errors.js';
import { TOKEN_ERRORS } from '../tokens/token-error.js';
import { VAULT_ERRORS } from '../vault/vault-error.js';
import { WEBHOOK_SIGNATURE_ERRORS } from '../webhooks/signature.js';
import { API_ERRORS } from './api-errors.js';

/**
 * Every error code of mailbridge, with its HTTP status and what it means: the modules' tables (src/errors/
 * error-table.ts) in one. The OpenAPI document lists it (`x-error-codes`); a module with a new table adds it here.
 * test/errors/error-registry.test.ts fails on a code thrown but missing here, or listed here but never thrown.
 */
export const ERROR_REGISTRY: ErrorTable = mergeErrorTables(
  API_ERRORS,
  OUTBOX_ERRORS,
  TOKEN_ERRORS,
  VAULT_ERRORS,
  GRAPH_ERRORS,
  WEBHOOK_SIGNATURE_ERRORS,
  CONFIG_ERRORS,
  DB_ERRORS,
  JOB_ERRORS,
  DASHBOARD_AUTH_ERRORS,
  OPS_ERRORS,
  CLI_ERRORS,
);
