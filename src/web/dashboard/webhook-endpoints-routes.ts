import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { EVENT_TYPES } from '../../events/event-recorder.js';
import type { ServiceDeps } from '../../services.js';
import { listWebhookDeliveries, retryWebhookDeliveryOrThrow } from '../../webhooks/webhook-deliveries.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  updateWebhookEndpoint,
} from '../../webhooks/webhook-endpoints.js';
import type { DashboardContextOf } from './dashboard-context.js';
import { formField } from './form-fields.js';
import { renderWebhookEndpointsPage, type WebhookEndpointsPageModel } from './webhook-endpoints-page.js';

const ENDPOINT_ID = /^whe_[0-9a-z]{26}$/;
const DELIVERY_ID = /^whd_[0-9a-z]{26}$/;
/** Deliveries the page lists, newest first (the whole log is `GET /v1/webhook-deliveries`). */
const LATEST_DELIVERIES = 20;
const DONE_NOTICES: Record<string, string> = {
  enabled: 'Endpoint enabled.',
  disabled: 'Endpoint disabled: it gets no new deliveries.',
  deleted: 'Endpoint deleted, and its secret destroyed.',
  retried: 'The delivery is scheduled again.',
};

/**
 * Settings → Webhooks, inside the dashboard plugin (its session hook, form tokens and HTML error pages apply):
 * - `GET /dashboard/settings/webhooks`: the organisation's endpoints (never their secrets) and latest deliveries;
 * - `POST /dashboard/settings/webhooks`: add one; the answer is the one page that shows its secret (no redirect, so
 *   it is never in a URL or history, and the dashboard's pages are `no-store`);
 * - `POST …/:id/enable|disable|rotate|delete`, `POST …/deliveries/:id/retry`.
 * The same functions as `/v1/webhook-endpoints` (src/webhooks/webhook-endpoints.ts); another organisation's endpoint
 * is "Not found".
 */
export function registerWebhookEndpointPages(
  scope: FastifyInstance,
  deps: ServiceDeps,
  contextOf: DashboardContextOf,
): void {
  const { db, clock } = deps;
  const render = async (
    request: FastifyRequest,
    reply: FastifyReply,
    extra: Omit<WebhookEndpointsPageModel, 'signedIn' | 'endpoints' | 'deliveries'>,
    status = 200,
  ) => {
    const { signedIn, organizationId } = contextOf(request);
    const body = renderWebhookEndpointsPage({
      signedIn,
      endpoints: await listWebhookEndpoints(db, clock, organizationId),
      deliveries: await listWebhookDeliveries(db, organizationId, { limit: LATEST_DELIVERIES, newestFirst: true }),
      ...extra,
    });
    return reply.code(status).type('text/html; charset=utf-8').send(body);
  };
  const endpointIdOf = (request: FastifyRequest): string => {
    const { id } = request.params as { id: string };
    if (!ENDPOINT_ID.test(id))
      throw new AppError('WEBHOOK_ENDPOINT_NOT_FOUND', 'There is no such endpoint.', { status: 404 });
    return id;
  };
  const done = (reply: FastifyReply, what: keyof typeof DONE_NOTICES) =>
    reply.redirect(`/dashboard/settings/webhooks?done=${what}`, 303);

  scope.get('/settings/webhooks', async (request, reply) => {
    const doneKey = (request.query as Record<string, string | undefined>)['done'] ?? '';
    const text = Object.hasOwn(DONE_NOTICES, doneKey) ? DONE_NOTICES[doneKey] : undefined;
    return render(request, reply, { notice: text ? { kind: 'info', text } : undefined });
  });

  scope.post('/settings/webhooks', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const form = {
      url: (formField(request, 'url') ?? '').trim().slice(0, 2048),
      eventTypes: EVENT_TYPES.filter((type) => formField(request, `type-${type}`) !== undefined),
    };
    const secret = formField(request, 'secret') ?? '';
    try {
      const created = await createWebhookEndpoint(deps, organizationId, {
        url: form.url,
        eventTypes: form.eventTypes.length === 0 ? null : form.eventTypes,
        ...(secret.trim() === '' ? {} : { secret }),
      });
      return render(request, reply, { shownSecret: { ...created, rotated: false } }, 201);
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        return render(request, reply, { notice: { kind: 'error', text: error.message }, form }, 400);
      }
      throw error;
    }
  });

  for (const [path, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    scope.post(`/settings/webhooks/:id/${path}`, async (request, reply) => {
      const { organizationId } = contextOf(request);
      await updateWebhookEndpoint(db, clock, organizationId, endpointIdOf(request), { enabled });
      return done(reply, enabled ? 'enabled' : 'disabled');
    });
  }

  scope.post('/settings/webhooks/:id/rotate', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const rotated = await rotateWebhookEndpointSecret(deps, organizationId, endpointIdOf(request));
    return render(request, reply, { shownSecret: { ...rotated, rotated: true } });
  });

  scope.post('/settings/webhooks/:id/delete', async (request, reply) => {
    const { organizationId } = contextOf(request);
    await deleteWebhookEndpoint(deps, organizationId, endpointIdOf(request));
    return done(reply, 'deleted');
  });

  scope.post('/settings/webhooks/deliveries/:id/retry', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    if (!DELIVERY_ID.test(id))
      throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND', 'There is no such delivery.', { status: 404 });
    await retryWebhookDeliveryOrThrow(db, clock, organizationId, id);
    return done(reply, 'retried');
  });
}
