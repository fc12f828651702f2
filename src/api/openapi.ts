import { z } from 'zod';
import { EVENT_TYPES } from '../events/event-recorder.js';
import { BODY_ERRORS, COMMON_ERRORS } from '../http/common-errors.js';
import { accountParams, apiComponents, ownerParams } from '../http/common-schemas.js';
import { API_KEY_API_OPERATIONS } from '../orgs/api-key-api.js';
import { MESSAGE_API_OPERATIONS } from '../outbox/message-api.js';
import { WEBHOOK_SIGNATURE_HEADER } from '../webhooks/signature.js';
import { WEBHOOK_API_OPERATIONS } from '../webhooks/webhook-api.js';
import { WEBHOOK_EVENT_ID_HEADER, WEBHOOK_EVENT_TYPE_HEADER } from '../webhooks/webhook-dispatcher.js';
import { WEBHOOK_ENDPOINT_API_OPERATIONS } from '../webhooks/webhook-endpoint-api.js';
import type { ApiFeature } from './api-features.js';
import {
  accountListSchema,
  accountSchema,
  connectSessionParams,
  connectSessionSchema,
  connectSessionStateSchema,
  createConnectSessionBody,
  listAccountsQuery,
  organizationSchema,
  ownerEmailProviderSchema,
  ownerSchema,
  setEmailProviderBody,
  updateOrganizationBody,
} from './api-schemas.js';
import { ERROR_REGISTRY } from './error-registry.js';
import { eventComponentId, eventListSchema, listEventsQuery } from './event-schemas.js';

/**
 * The OpenAPI 3.1 description of the host API, generated from the zod schemas the routes parse with (so it cannot
 * drift from what the API accepts) and the error catalogue. `test/api/openapi.test.ts` fails when a registered
 * `/v1` route is missing here, or a documented one is not served.
 */

type JsonObject = Record<string, unknown>;

export interface ApiOperation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path template (`/v1/accounts/{id}`). */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** False only for the OpenAPI document itself. */
  authenticated: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the operation reads (besides Authorization), by their canonical names. */
  headers?: z.ZodObject;
  /** A schema registered in `apiComponents`. */
  body?: z.ZodType;
  response: { status: number; description: string; schema?: z.ZodType };
  /** Other success answers (an idempotent replay's 200 beside the 202), same shape unless a schema is given. */
  otherResponses?: ReadonlyArray<{ status: number; description: string; schema?: z.ZodType }>;
  /** Codes of `apiErrorCatalogue()` this operation may answer with (besides authentication and INTERNAL). */
  errors: readonly string[];
}

/** The operations of this module; `ALL_API_OPERATIONS` adds those other modules serve under `/v1`. */
export const API_OPERATIONS: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This document',
    authenticated: false,
    response: { status: 200, description: 'The OpenAPI 3.1 document of the host API.' },
    errors: [],
  },
  {
    method: 'post',
    path: '/v1/connect-sessions',
    operationId: 'createConnectSession',
    summary: 'Start connecting a Microsoft mailbox',
    description:
      'Creates a short-lived connect session for an owner and returns the URL to send their browser to. The ' +
      'hosted flow lets them choose Microsoft Outlook / Hotmail / Microsoft 365, sign in and consent at Microsoft, ' +
      'and ends on `returnUrl` (if given) with the outcome in the query, or on its own outcome page. The owner is ' +
      'created on first use.',
    authenticated: true,
    body: createConnectSessionBody,
    response: {
      status: 201,
      description: 'The session; send the user to `url` before `expiresAt`.',
      schema: connectSessionSchema,
    },
    errors: [
      ...BODY_ERRORS,
      'CONNECT_RETURN_URL_NOT_ALLOWED',
      'CONNECT_OWNER_ID_INVALID',
      'CONNECT_PERMISSION_PROFILE_INVALID',
      'CONNECT_LOGIN_HINT_INVALID',
      'CONNECT_EXPECTED_EMAIL_INVALID',
      'CONNECT_ORGANIZATION_NOT_FOUND',
    ],
  },
  {
    method: 'get',
    path: '/v1/connect-sessions/{id}',
    operationId: 'getConnectSession',
    summary: 'Where a connect session stands',
    description:
      "The session's state and how its latest attempt ended: check here (or on the `connect.*` webhooks) what the " +
      "browser's return URL claims, since anyone can type a query string.",
    authenticated: true,
    params: connectSessionParams,
    response: { status: 200, description: 'The session.', schema: connectSessionStateSchema },
    errors: ['REQUEST_INVALID', 'CONNECT_SESSION_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/accounts',
    operationId: 'listAccounts',
    summary: 'List connected accounts',
    description:
      "The organisation's accounts in creation order, with status, reason and remediation. Filter by owner or " +
      "status; page with `limit` and `after` (= the previous page's `nextCursor`).",
    authenticated: true,
    query: listAccountsQuery,
    response: { status: 200, description: 'One page of accounts.', schema: accountListSchema },
    errors: ['REQUEST_INVALID'],
  },
  {
    method: 'get',
    path: '/v1/accounts/{id}',
    operationId: 'getAccount',
    summary: 'Get an account',
    authenticated: true,
    params: accountParams,
    response: { status: 200, description: 'The account.', schema: accountSchema },
    errors: ['REQUEST_INVALID', 'ACCOUNT_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/v1/accounts/{id}',
    operationId: 'disconnectAccount',
    summary: 'Disconnect an account',
    description:
      "Destroys the account's tokens at once (ciphertext and its data key: crypto-shredding), sets status " +
      '`disconnected` (reason `user_disconnected`), stops its schedules and records `account.disconnected`. If the ' +
      "owner's email provider was `microsoft` and no other Microsoft account of theirs remains, it falls back to " +
      '`default`. The account record stays (reconnecting the same mailbox keeps its id). Idempotent. To also revoke ' +
      'the app at Microsoft, the user removes it at account.microsoft.com → Privacy → Apps and services (personal) or ' +
      'myapps.microsoft.com (work).',
    authenticated: true,
    params: accountParams,
    response: { status: 200, description: 'The disconnected account.', schema: accountSchema },
    errors: ['REQUEST_INVALID', 'ACCOUNT_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/owners/{ownerId}',
    operationId: 'getOwner',
    summary: 'Get an owner',
    authenticated: true,
    params: ownerParams,
    response: { status: 200, description: 'The owner and their email provider.', schema: ownerSchema },
    errors: ['REQUEST_INVALID', 'OWNER_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/v1/owners/{ownerId}',
    operationId: 'deleteOwner',
    summary: "Delete all of an owner's data",
    description:
      'Deletes, in one transaction: every account of the owner (tokens crypto-shredded), their connect sessions, ' +
      'their place in tenant admin-approval waits, their earlier events (which carry email addresses) and the owner ' +
      'itself; then records `owner.deleted` (owner id and deleted account ids only). Idempotent: 204 also when ' +
      'there was nothing to delete.',
    authenticated: true,
    params: ownerParams,
    response: { status: 204, description: 'Deleted (or nothing to delete).' },
    errors: ['REQUEST_INVALID'],
  },
  {
    method: 'put',
    path: '/v1/owners/{ownerId}/email-provider',
    operationId: 'setOwnerEmailProvider',
    summary: "Choose the owner's email provider",
    description:
      '`microsoft` ("Personal Outlook") needs a Microsoft account of the owner that can send (status `connected` ' +
      'or `degraded`), else 409. `default` is always accepted.',
    authenticated: true,
    params: ownerParams,
    body: setEmailProviderBody,
    response: { status: 200, description: 'The provider now in effect.', schema: ownerEmailProviderSchema },
    errors: [...BODY_ERRORS, 'OWNER_NO_CONNECTED_ACCOUNT'],
  },
  {
    method: 'get',
    path: '/v1/events',
    operationId: 'listEvents',
    summary: 'List events',
    description:
      "The organisation's events, oldest first, as also delivered to the webhook. Poll with `after` = the last " +
      '`nextCursor` (or the id of the last event you processed).',
    authenticated: true,
    query: listEventsQuery,
    response: { status: 200, description: 'One page of events.', schema: eventListSchema },
    errors: ['REQUEST_INVALID'],
  },
  {
    method: 'get',
    path: '/v1/organization',
    operationId: 'getOrganization',
    summary: "Get the API key's organisation",
    authenticated: true,
    response: { status: 200, description: 'The organisation.', schema: organizationSchema },
    errors: ['ORG_NOT_FOUND'],
  },
  {
    method: 'patch',
    path: '/v1/organization',
    operationId: 'updateOrganization',
    summary: 'Rename the organisation or replace its return-URL allow-list',
    authenticated: true,
    body: updateOrganizationBody,
    response: { status: 200, description: 'The updated organisation.', schema: organizationSchema },
    errors: [...BODY_ERRORS, 'ORG_NAME_INVALID', 'ORG_RETURN_URL_INVALID', 'ORG_RETURN_URLS_TOO_MANY', 'ORG_NOT_FOUND'],
  },
];

/**
 * Every documented operation. A module that registers routes under `/v1` (in `registerApiRoutes`' authenticated
 * scope) describes them as `ApiOperation`s next to its routes and adds its list here, or comes as an `ApiFeature`
 * that the composition root passes in; `test/api/openapi.test.ts` fails while a served `/v1` route is missing.
 */
export function allApiOperations(features: readonly ApiFeature[] = []): readonly ApiOperation[] {
  return [
    ...API_OPERATIONS,
    ...WEBHOOK_API_OPERATIONS,
    ...WEBHOOK_ENDPOINT_API_OPERATIONS,
    ...MESSAGE_API_OPERATIONS,
    ...API_KEY_API_OPERATIONS,
    ...features.flatMap((feature) => feature.operations),
  ];
}

/**
 * Every error code of mailbridge (src/api/error-registry.ts): the API's own, the modules serving `/v1` routes, and
 * those of the other modules (an operator meets them in logs and CLI output), so the document lists them all; plus
 * the codes of the features the composition root passes in (api-features.ts), which the registry cannot import.
 */
export function apiErrorCatalogue(
  features: readonly ApiFeature[] = [],
): Readonly<Record<string, { status: number; description: string }>> {
  return Object.assign({ ...ERROR_REGISTRY }, ...features.map((feature) => feature.errors));
}

let cached: { publicUrl: string; features: readonly ApiFeature[]; document: JsonObject } | undefined;

/** The OpenAPI 3.1 document for a service reachable at `publicUrl`, with the operations of its `features`. */
export function buildOpenApiDocument(publicUrl: string, features: readonly ApiFeature[] = []): JsonObject {
  if (cached?.publicUrl === publicUrl && cached.features === features) return cached.document;
  const document = generate(publicUrl, features);
  cached = { publicUrl, features, document };
  return document;
}

function generate(publicUrl: string, features: readonly ApiFeature[]): JsonObject {
  const operations = allApiOperations(features);
  const catalogue = apiErrorCatalogue(features);
  const uri = (id: string) => `#/components/schemas/${id}`;
  const requestIds = new Set(operations.flatMap((op) => (op.body ? [componentIdOrThrow(op.body)] : [])));
  // Request bodies are described as accepted (defaults make fields optional), responses as sent.
  const asInput = z.toJSONSchema(apiComponents, { uri, io: 'input' }).schemas;
  const asOutput = z.toJSONSchema(apiComponents, { uri, io: 'output' }).schemas;
  const schemas: JsonObject = {};
  for (const id of Object.keys(asOutput).sort()) {
    schemas[id] = tidy((requestIds.has(id) ? asInput[id] : asOutput[id]) as JsonObject);
  }

  const paths: Record<string, JsonObject> = {};
  for (const op of operations) {
    paths[op.path] = { ...paths[op.path], [op.method]: operationObject(op, catalogue) };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'mailbridge host API',
      version: '1',
      description:
        "Connect your users' Microsoft mailboxes (Outlook.com, Hotmail, Microsoft 365) and follow their health. " +
        'Authenticate with `Authorization: Bearer <API key>` (`mailbridge api-keys create`); a key sees only its ' +
        'organisation\'s owners, accounts and events. Errors are `{ "error": { "code", "message", "details"? } }`; ' +
        'the codes are listed under `x-error-codes` and per operation.',
    },
    servers: [{ url: publicUrl }],
    security: [{ apiKey: [] }],
    paths,
    webhooks: webhookDescriptions(),
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'mb_live_…', description: 'An API key.' },
      },
      schemas,
    },
    'x-error-codes': Object.fromEntries(
      Object.entries(catalogue).map(([code, { status, description }]) => [code, { status, description }]),
    ),
  };
}

/**
 * The OpenAPI 3.1 `webhooks` section: one POST per event type, whose body is that type's event schema, with the
 * headers every delivery carries (src/webhooks/webhook-dispatcher.ts, signature.ts).
 */
function webhookDescriptions(): JsonObject {
  const header = (name: string, description: string) => ({
    name,
    in: 'header',
    required: true,
    description,
    schema: { type: 'string' },
  });
  const parameters = [
    header(
      WEBHOOK_SIGNATURE_HEADER,
      '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; during a secret rotation a second `v1=` made ' +
        'with the previous secret. Accept the delivery if any `v1` matches a secret you hold and `t` is within 5 ' +
        'minutes of your clock.',
    ),
    header(WEBHOOK_EVENT_ID_HEADER, 'The event id (= the body `id`): dedupe by it, delivery is at least once.'),
    header(WEBHOOK_EVENT_TYPE_HEADER, 'The event type (= the body `type`).'),
  ];
  return Object.fromEntries(
    EVENT_TYPES.map((type) => [
      type,
      {
        post: {
          operationId: `on${eventComponentId(type)}`,
          summary: `The \`${type}\` event`,
          parameters,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: `#/components/schemas/${eventComponentId(type)}` } } },
          },
          responses: {
            '2XX': { description: 'Received. Any other answer, or none within 10 s, is retried (about 25 hours).' },
          },
        },
      },
    ]),
  );
}

function operationObject(
  op: ApiOperation,
  catalogue: Readonly<Record<string, { status: number; description: string }>>,
): JsonObject {
  const parameters = [
    ...parametersOf(op.params, 'path'),
    ...parametersOf(op.query, 'query'),
    ...parametersOf(op.headers, 'header'),
  ];
  const successOf = (answer: ApiOperation['response']): JsonObject => {
    const success: JsonObject = { description: answer.description };
    if (answer.schema) {
      success['content'] = { 'application/json': { schema: { $ref: refOf(answer.schema) } } };
    } else if (op.operationId === 'getOpenApiDocument') {
      success['content'] = { 'application/json': { schema: { type: 'object' } } };
    }
    return success;
  };
  const responses: JsonObject = { [String(op.response.status)]: successOf(op.response) };
  for (const other of op.otherResponses ?? []) {
    responses[String(other.status)] = successOf({ ...other, schema: other.schema ?? op.response.schema });
  }
  const codes = [...new Set([...op.errors, ...(op.authenticated ? COMMON_ERRORS : ['INTERNAL'])])];
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const entry = catalogue[code];
    if (!entry) throw new Error(`${op.operationId} names error code ${code}, which no error catalogue describes`);
    byStatus.set(entry.status, [...(byStatus.get(entry.status) ?? []), code]);
  }
  for (const [status, statusCodes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: statusCodes.map((code) => `\`${code}\`: ${catalogue[code]?.description}`).join('\n\n'),
      content: {
        'application/json': {
          schema: {
            allOf: [
              { $ref: '#/components/schemas/Error' },
              // Required and typed here too (the Error schema already requires both), so a generator's type of
              // this answer has `error.code` as exactly these codes rather than an optional value of any type.
              {
                type: 'object',
                required: ['error'],
                properties: {
                  error: {
                    type: 'object',
                    required: ['code'],
                    properties: { code: { type: 'string', enum: statusCodes } },
                  },
                },
              },
            ],
          },
        },
      },
    };
  }
  const operation: JsonObject = {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: refOf(op.body) } } } } }
      : {}),
    responses,
    'x-error-codes': codes,
  };
  if (!op.authenticated) operation['security'] = [];
  return operation;
}

function parametersOf(schema: z.ZodObject | undefined, location: 'path' | 'query' | 'header'): JsonObject[] {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const json = tidy(z.toJSONSchema(field as z.ZodType, { io: 'input' }) as JsonObject);
    const { description, deprecated, ...rest } = json;
    return {
      name,
      in: location,
      required: location === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      ...(typeof description === 'string' ? { description } : {}),
      ...(deprecated === true ? { deprecated: true } : {}),
      schema: rest,
    };
  });
}

function refOf(schema: z.ZodType): string {
  return `#/components/schemas/${componentIdOrThrow(schema)}`;
}

function componentIdOrThrow(schema: z.ZodType): string {
  const id = apiComponents.get(schema)?.id;
  if (!id) throw new Error('an API body or response schema must be registered in apiComponents');
  return id;
}

/** Drops per-schema `$schema`/`$id` (the document has one dialect) and the long regexes zod emits for formats. */
function tidy(schema: JsonObject): JsonObject {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== 'object' || value === null) return value;
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(value)) {
      if (key === '$schema' || key === '$id') continue;
      out[key] = walk(child);
    }
    if (typeof out['format'] === 'string' && typeof out['pattern'] === 'string') delete out['pattern'];
    return out;
  };
  return walk(schema) as JsonObject;
}
