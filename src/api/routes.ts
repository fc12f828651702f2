import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findAccountForOrgOrThrow, listAccounts, toAccountView } from '../accounts/account-view.js';
import { disconnectAccount } from '../accounts/disconnect-account.js';
import { toConnectSessionView } from '../connect/connect-session-view.js';
import { createConnectSession, findConnectSession } from '../connect/connect-sessions.js';
import { AppError } from '../errors/app-error.js';
import { listEvents } from '../events/event-recorder.js';
import { accountParams, ownerParams } from '../http/common-schemas.js';
import { parseRequestOrThrow } from '../http/request-validation.js';
import { apiAuthOf, apiKeyAuthHook } from '../orgs/api-auth.js';
import { registerApiKeyRoutes } from '../orgs/api-key-routes.js';
import { findOrganizationOrThrow, isReturnUrlAllowed, updateOrganization } from '../orgs/organizations.js';
import { registerMessageRoutes } from '../outbox/message-routes.js';
import { deleteOwner, getOwnerOrThrow, setOwnerEmailProvider, toOwnerView } from '../owners/owners.js';
import type { ServiceDeps } from '../services.js';
import { registerWebhookEndpointRoutes } from '../webhooks/webhook-endpoint-routes.js';
import { registerWebhookRoutes } from '../webhooks/webhook-routes.js';
import { API_ERRORS } from './api-errors.js';
import type { ApiFeature } from './api-features.js';
import {
  connectSessionParams,
  createConnectSessionBody,
  listAccountsQuery,
  setEmailProviderBody,
  updateOrganizationBody,
} from './api-schemas.js';
import { listEventsQuery } from './event-schemas.js';
import { buildOpenApiDocument } from './openapi.js';

/** The API's JSON bodies are small; a larger one is a mistake (or an attack), refused before it is parsed. */
const API_BODY_LIMIT = 64 * 1024;

/**
 * Registers the host API (`/v1`): API-key authentication on every route but the OpenAPI document, validation of
 * every input with the zod schemas of `api-schemas.ts` before any work, JSON errors with the codes of
 * `api-errors.ts`, and every query scoped to the key's organisation. `features` (api-features.ts) add their routes
 * to the same authenticated scope and their operations to the document.
 */
export async function registerApiRoutes(
  app: FastifyInstance,
  deps: ServiceDeps,
  features: readonly ApiFeature[] = [],
): Promise<void> {
  await app.register(
    async (api) => {
      api.setErrorHandler(apiErrorHandler);

      // Public: the API's description.
      api.get('/openapi.json', async () => buildOpenApiDocument(deps.config.publicUrl, features));

      await api.register(async (secured) => {
        acceptEmptyJsonBodies(secured);
        secured.addHook('onRequest', apiKeyAuthHook(deps));
        secured.addHook('preValidation', requireJsonBody);
        registerSecuredRoutes(secured, deps);
        registerMessageRoutes(secured, deps);
        registerWebhookRoutes(secured, deps);
        registerApiKeyRoutes(secured, deps);
        registerWebhookEndpointRoutes(secured, deps);
        for (const feature of features) feature.register(secured, deps);
      });
    },
    { prefix: '/v1' },
  );
}

function registerSecuredRoutes(api: FastifyInstance, deps: ServiceDeps): void {
  const options = { bodyLimit: API_BODY_LIMIT };

  api.post('/connect-sessions', options, async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const body = parseRequestOrThrow(createConnectSessionBody, request.body, 'body');
    if (body.returnUrl !== undefined) {
      const organization = await findOrganizationOrThrow(deps.db, organizationId);
      if (!isReturnUrlAllowed(organization, body.returnUrl)) {
        throw new AppError(
          'CONNECT_RETURN_URL_NOT_ALLOWED',
          "returnUrl is not in the organisation's allow-list of return URLs (PATCH /v1/organization to add it).",
          { status: 400, details: { issues: [{ location: 'body', field: 'returnUrl', code: 'not_allowed' }] } },
        );
      }
    }
    const session = await createConnectSession(deps, {
      organizationId,
      ownerExternalId: body.ownerId,
      permissionProfile: body.permissionProfile,
      returnUrl: body.returnUrl,
      loginHint: body.loginHint,
      expectedEmail: body.expectedEmail,
    });
    return reply.code(201).send({ id: session.id, url: session.url, expiresAt: session.expiresAt });
  });

  api.get('/connect-sessions/:id', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(connectSessionParams, request.params, 'path');
    const session = await findConnectSession(deps.db, id);
    if (!session || session.organization_id !== organizationId) {
      throw new AppError('CONNECT_SESSION_NOT_FOUND', 'No connect session with this id in your organisation.', {
        status: 404,
      });
    }
    return toConnectSessionView(session, deps.clock.now());
  });

  api.get('/accounts', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const query = parseRequestOrThrow(listAccountsQuery, request.query, 'query');
    const page = await listAccounts(deps.db, organizationId, {
      ownerExternalId: query.ownerId,
      status: query.status,
      after: query.after,
      limit: query.limit,
    });
    const now = deps.clock.now();
    return { data: page.data.map((row) => toAccountView(row, now)), nextCursor: page.nextCursor };
  });

  api.get('/accounts/:id', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
    return toAccountView(await findAccountForOrgOrThrow(deps.db, organizationId, id), deps.clock.now());
  });

  api.delete('/accounts/:id', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const { id } = parseRequestOrThrow(accountParams, request.params, 'path');
    return disconnectAccount(deps, organizationId, id);
  });

  api.get('/owners/:ownerId', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const { ownerId } = parseRequestOrThrow(ownerParams, request.params, 'path');
    return toOwnerView(await getOwnerOrThrow(deps.db, organizationId, ownerId));
  });

  api.delete('/owners/:ownerId', async (request, reply) => {
    const { organizationId } = apiAuthOf(request);
    const { ownerId } = parseRequestOrThrow(ownerParams, request.params, 'path');
    await deleteOwner(deps, organizationId, ownerId);
    return reply.code(204).send();
  });

  api.put('/owners/:ownerId/email-provider', options, async (request) => {
    const { organizationId } = apiAuthOf(request);
    const { ownerId } = parseRequestOrThrow(ownerParams, request.params, 'path');
    const { provider } = parseRequestOrThrow(setEmailProviderBody, request.body, 'body');
    const owner = await setOwnerEmailProvider(deps, organizationId, ownerId, provider);
    return { ownerId: owner.ownerId, emailProvider: owner.emailProvider };
  });

  api.get('/events', async (request) => {
    const { organizationId } = apiAuthOf(request);
    const query = parseRequestOrThrow(listEventsQuery, request.query, 'query');
    const events = await listEvents(deps.db, organizationId, {
      after: query.after,
      limit: query.limit + 1,
      type: query.type,
      accountId: query.accountId,
    });
    const data = events.slice(0, query.limit);
    return { data, nextCursor: events.length > query.limit ? (data.at(-1)?.id ?? null) : null };
  });

  api.get('/organization', async (request) => {
    const { organizationId } = apiAuthOf(request);
    return findOrganizationOrThrow(deps.db, organizationId);
  });

  api.patch('/organization', options, async (request) => {
    const { organizationId } = apiAuthOf(request);
    const body = parseRequestOrThrow(updateOrganizationBody, request.body, 'body');
    return updateOrganization(deps.db, organizationId, body);
  });
}

/**
 * Fastify's JSON parser (with its `__proto__` / `constructor` poisoning checks), except that an empty body is no
 * body: many HTTP clients send `Content-Type: application/json` on a DELETE without one, and that is not an error.
 * A route that needs a body still says so (REQUEST_INVALID, "a JSON body is required").
 */
function acceptEmptyJsonBodies(api: FastifyInstance): void {
  const parseJson = api.getDefaultJsonParser('error', 'error');
  api.removeContentTypeParser('application/json');
  api.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, typeof body === 'string' ? body : body.toString('utf8'), done);
  });
}

/** Requests that carry a body must say it is JSON (a form post to the API is a mistake, or a cross-site attempt). */
async function requireJsonBody(request: FastifyRequest): Promise<void> {
  const hasBody =
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? '0') > 0;
  if (!hasBody) return;
  const type = (request.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new AppError(
      'REQUEST_CONTENT_TYPE_UNSUPPORTED',
      'Send the body as JSON with Content-Type: application/json.',
      {
        status: 415,
      },
    );
  }
}

/**
 * The API's error answers. Fastify's own errors before our handlers (a body that is not JSON, too large, of another
 * type) get API codes too, so a client can branch on every 4xx the API sends.
 */
function apiErrorHandler(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof AppError && error.status < 500) {
    return reply.code(error.status).send({
      error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
    });
  }
  const fastifyCode = 'code' in error ? error.code : undefined;
  const mapped = FASTIFY_ERRORS[fastifyCode ?? ''];
  if (mapped) {
    return reply
      .code(API_ERRORS[mapped].status)
      .send({ error: { code: mapped, message: API_ERRORS[mapped].description } });
  }
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status < 500) {
    return reply.code(status).send({ error: { code: 'REQUEST_INVALID', message: error.message } });
  }
  request.log.error({ err: error }, 'API request failed');
  return reply.code(500).send({ error: { code: 'INTERNAL', message: API_ERRORS.INTERNAL.description } });
}

const FASTIFY_ERRORS: Record<string, keyof typeof API_ERRORS> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'REQUEST_JSON_INVALID',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'REQUEST_JSON_INVALID',
  FST_ERR_CTP_BODY_TOO_LARGE: 'REQUEST_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'REQUEST_CONTENT_TYPE_UNSUPPORTED',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'REQUEST_INVALID',
};
