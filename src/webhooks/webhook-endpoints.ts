import { type Expression, type ExpressionBuilder, expressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WebhookEndpointsTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { AppError } from '../errors/app-error.js';
import { parsePlainUrl } from '../orgs/organizations.js';
import { type Clock, isoTime, isoTimeOrNull } from '../platform/clock.js';
import { newId } from '../platform/ids.js';
import { PlaintextSecret } from '../vault/secret-types.js';
import type { TokenVault } from '../vault/token-vault.js';
import { acceptWebhookSecretOrThrow, generateWebhookSecret } from './webhook-secret.js';

/**
 * An organisation's webhook endpoints (issue 13): where its events are POSTed, each with its own signing secret,
 * the event types it wants and an on/off switch. Every event of the organisation gets one delivery per enabled
 * endpoint that wants its type (EventRecorder), signed with that endpoint's secret (webhook-dispatcher.ts).
 *
 * The secret is generated (or given, 32+ characters), answered once, and kept only sealed by the vault under the
 * endpoint's own data key (subject = endpoint id), since signing needs the secret itself (a hash would not do);
 * deleting the endpoint destroys the data key. Rotating keeps the previous secret for an overlap window during
 * which every delivery carries both signatures (`v1=<new>,v1=<old>`, signature.ts), so a receiver can switch secrets
 * at its own pace.
 */

export interface WebhookEndpointView {
  id: string;
  url: string;
  /** The event types it receives; null: every type. */
  eventTypes: string[] | null;
  enabled: boolean;
  /** While a rotation's overlap lasts, deliveries are signed with the previous secret too, until then. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** An endpoint with its secret: the one answer that shows it (creation, rotation). */
export interface WebhookEndpointWithSecret {
  endpoint: WebhookEndpointView;
  secret: string;
}

export interface WebhookEndpointInput {
  url: string;
  /** Null or absent: every event type. */
  eventTypes?: readonly string[] | null | undefined;
  enabled?: boolean | undefined;
  /** Absent: mailbridge generates one. */
  secret?: string | undefined;
}

export interface WebhookEndpointChanges {
  url?: string | undefined;
  eventTypes?: readonly string[] | null | undefined;
  enabled?: boolean | undefined;
}

/** A rotation's overlap: default a day, at most a week (0: the old secret stops at once). */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 86_400;
/** Endpoints per organisation: each event fans out to all of them. */
export const MAX_WEBHOOK_ENDPOINTS = 10;

const SECRET_FIELD = 'secret';
const PREVIOUS_SECRET_FIELD = 'previous_secret';

interface EndpointStoreDeps {
  db: Kysely<Database>;
  clock: Clock;
  vault: TokenVault;
}

/**
 * A webhook URL: https (http only for localhost, 127.x or [::1], for a receiver on the same machine), no user name,
 * password, query or fragment: the same plain-URL reading as return URLs (organizations.ts), so nothing a URL
 * parser reads leniently sends signed events elsewhere.
 */
export function normalizeWebhookUrlOrThrow(url: string): string {
  const parsed = parsePlainUrl(url);
  if (parsed === undefined || parsed.search !== '' || parsed.hash !== '' || /[?#]/.test(url)) {
    throw new AppError(
      'WEBHOOK_ENDPOINT_URL_INVALID',
      'A webhook URL is an absolute https URL (http only for localhost, 127.0.0.1 or [::1]) without user name, ' +
        'password, query or fragment: e.g. "https://app.example.com/hooks/mailbridge".',
      { status: 400, details: { issues: [{ location: 'body', field: 'url', code: 'invalid_url' }] } },
    );
  }
  return parsed.href;
}

export async function createWebhookEndpoint(
  deps: EndpointStoreDeps,
  organizationId: string,
  input: WebhookEndpointInput,
): Promise<WebhookEndpointWithSecret> {
  const url = normalizeWebhookUrlOrThrow(input.url);
  const secret = input.secret === undefined ? generateWebhookSecret() : acceptWebhookSecretOrThrow(input.secret);
  const id = newId('whe', deps.clock);
  const now = deps.clock.now();
  await withTransaction(deps.db, async (trx) => {
    const count = await trx
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('organization_id', '=', organizationId)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_WEBHOOK_ENDPOINTS) {
      throw new AppError(
        'WEBHOOK_ENDPOINTS_TOO_MANY',
        `An organisation has at most ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints; delete one first.`,
        { status: 409 },
      );
    }
    const sealed = await deps.vault.seal(trx, id, SECRET_FIELD, PlaintextSecret.from(secret), {
      createDataKeyIfMissing: true,
    });
    await trx
      .insertInto('webhook_endpoints')
      .values({
        id,
        organization_id: organizationId,
        url,
        event_types: eventTypesColumn(input.eventTypes),
        enabled: input.enabled === false ? 0 : 1,
        secret_sealed: sealed,
        previous_secret_sealed: null,
        previous_secret_expires_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  });
  return { endpoint: await findWebhookEndpointOrThrow(deps.db, deps.clock, organizationId, id), secret };
}

/** The organisation's endpoints, oldest first. Never a secret. */
export async function listWebhookEndpoints(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
): Promise<WebhookEndpointView[]> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .orderBy('id', 'asc')
    .execute();
  return rows.map((row) => toView(row, clock.now()));
}

export async function findWebhookEndpointOrThrow(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  id: string,
): Promise<WebhookEndpointView> {
  return toView(await endpointRowOrThrow(db, organizationId, id), clock.now());
}

export async function updateWebhookEndpoint(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  id: string,
  changes: WebhookEndpointChanges,
): Promise<WebhookEndpointView> {
  await endpointRowOrThrow(db, organizationId, id);
  const set: Partial<WebhookEndpointsTable> = { updated_at: clock.now() };
  if (changes.url !== undefined) set.url = normalizeWebhookUrlOrThrow(changes.url);
  if (changes.eventTypes !== undefined) set.event_types = eventTypesColumn(changes.eventTypes);
  if (changes.enabled !== undefined) set.enabled = changes.enabled ? 1 : 0;
  await db
    .updateTable('webhook_endpoints')
    .set(set)
    .where('id', '=', id)
    .where('organization_id', '=', organizationId)
    .execute();
  return findWebhookEndpointOrThrow(db, clock, organizationId, id);
}

/**
 * Deletes the endpoint and destroys its data key in one transaction (its secrets are unreadable from then on, in
 * backups too once the ring key is rotated). Its delivery log stays; a pending delivery fails at its next attempt.
 */
export async function deleteWebhookEndpoint(
  deps: EndpointStoreDeps,
  organizationId: string,
  id: string,
): Promise<void> {
  await withTransaction(deps.db, async (trx) => {
    await endpointRowOrThrow(trx, organizationId, id);
    await trx
      .deleteFrom('webhook_endpoints')
      .where('id', '=', id)
      .where('organization_id', '=', organizationId)
      .execute();
    await deps.vault.destroyDataKey(trx, id);
  });
}

/**
 * A new secret for the endpoint, answered once. The secret in use until now keeps signing, beside the new one, for
 * `overlapSeconds` (0: not at all); a rotation during an overlap ends the earlier overlap (only the latest two
 * secrets are ever signed with).
 */
export async function rotateWebhookEndpointSecret(
  deps: EndpointStoreDeps,
  organizationId: string,
  id: string,
  options: { overlapSeconds?: number | undefined; secret?: string | undefined } = {},
): Promise<WebhookEndpointWithSecret> {
  const overlapSeconds = options.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_ROTATION_OVERLAP_SECONDS) {
    throw new AppError(
      'WEBHOOK_ROTATION_OVERLAP_INVALID',
      `overlapSeconds is a whole number from 0 to ${MAX_ROTATION_OVERLAP_SECONDS} (a week).`,
      { status: 400 },
    );
  }
  const secret = options.secret === undefined ? generateWebhookSecret() : acceptWebhookSecretOrThrow(options.secret);
  await withTransaction(deps.db, async (trx) => {
    const row = await endpointRowOrThrow(trx, organizationId, id);
    const now = deps.clock.now();
    const [sealed] = await deps.vault.sealFields(trx, id, [[SECRET_FIELD, PlaintextSecret.from(secret)]]);
    let previous: { sealed: WebhookEndpointsTable['previous_secret_sealed']; expiresAt: number | null } = {
      sealed: null,
      expiresAt: null,
    };
    if (overlapSeconds > 0) {
      const current = await deps.vault.open(trx, id, SECRET_FIELD, row.secret_sealed);
      const [resealed] = await deps.vault.sealFields(trx, id, [[PREVIOUS_SECRET_FIELD, current]]);
      previous = { sealed: resealed ?? null, expiresAt: now + overlapSeconds * 1000 };
    }
    await trx
      .updateTable('webhook_endpoints')
      .set({
        secret_sealed: sealed,
        previous_secret_sealed: previous.sealed,
        previous_secret_expires_at: previous.expiresAt,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  });
  return { endpoint: await findWebhookEndpointOrThrow(deps.db, deps.clock, organizationId, id), secret };
}

/** The secrets a delivery to this endpoint is signed with now: the current one, then the previous during overlap. */
export async function signingSecretsOf(
  db: Kysely<Database>,
  vault: TokenVault,
  row: WebhookEndpointsTable,
  now: number,
): Promise<string[]> {
  const secrets = [(await vault.open(db, row.id, SECRET_FIELD, row.secret_sealed)).reveal()];
  if (row.previous_secret_sealed !== null && overlapLasts(row, now)) {
    secrets.push((await vault.open(db, row.id, PREVIOUS_SECRET_FIELD, row.previous_secret_sealed)).reveal());
  }
  return secrets;
}

/** The id of one enabled endpoint of the organisation, or null: a subquery for a statement made anyway. */
export function anyEnabledEndpoint(
  eb: ExpressionBuilder<Database, 'events'>,
  organizationId: string,
): Expression<unknown> {
  return eb
    .selectFrom('webhook_endpoints')
    .select('webhook_endpoints.id')
    .where('webhook_endpoints.organization_id', '=', organizationId)
    .where('webhook_endpoints.enabled', '=', 1)
    .limit(1);
}

/** True while the organisation has no enabled endpoint: a condition for a statement that records an event by itself. */
export function noEnabledEndpoint(organizationId: string): Expression<SqlBool> {
  const eb = expressionBuilder<Database, never>();
  return eb.not(
    eb.exists(
      eb
        .selectFrom('webhook_endpoints')
        .select('webhook_endpoints.id')
        .where('webhook_endpoints.organization_id', '=', organizationId)
        .where('webhook_endpoints.enabled', '=', 1),
    ),
  );
}

/** The organisation's enabled endpoints that want events of `type` (read for an event when it has any). */
export async function endpointsWanting(
  db: Kysely<Database>,
  organizationId: string,
  type: string,
): Promise<Array<Pick<WebhookEndpointsTable, 'id' | 'url'>>> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select(['id', 'url', 'event_types'])
    .where('organization_id', '=', organizationId)
    .where('enabled', '=', 1)
    .orderBy('id', 'asc')
    .execute();
  return rows.filter((row) => {
    const wanted = parseEventTypes(row.event_types);
    return wanted === null || wanted.includes(type);
  });
}

/** The endpoint a delivery goes to, whatever its organisation (the dispatcher's look-up), or undefined if deleted. */
export async function findEndpointRow(db: Kysely<Database>, id: string): Promise<WebhookEndpointsTable | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

async function endpointRowOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  id: string,
): Promise<WebhookEndpointsTable> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('id', '=', id)
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
  // Another organisation's endpoint is "not found" too.
  if (!row) throw new AppError('WEBHOOK_ENDPOINT_NOT_FOUND', `no webhook endpoint ${id}`, { status: 404 });
  return row;
}

function overlapLasts(row: WebhookEndpointsTable, now: number): boolean {
  return row.previous_secret_expires_at !== null && Number(row.previous_secret_expires_at) > now;
}

function toView(row: WebhookEndpointsTable, now: number): WebhookEndpointView {
  return {
    id: row.id,
    url: row.url,
    eventTypes: parseEventTypes(row.event_types),
    enabled: Number(row.enabled) === 1,
    previousSecretExpiresAt:
      row.previous_secret_sealed !== null && overlapLasts(row, now)
        ? isoTimeOrNull(row.previous_secret_expires_at)
        : null,
    createdAt: isoTime(row.created_at),
    updatedAt: isoTime(row.updated_at),
  };
}

function eventTypesColumn(types: readonly string[] | null | undefined): string | null {
  if (types === undefined || types === null) return null;
  return JSON.stringify([...new Set(types)].sort());
}

function parseEventTypes(text: string | null): string[] | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    // A corrupt filter matches nothing rather than everything: an endpoint gets no event it did not ask for.
    return Array.isArray(value) ? value.filter((type): type is string => typeof type === 'string') : [];
  } catch {
    return [];
  }
}
