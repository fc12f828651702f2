import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import { type ApiKeyScope, createApiKey, findApiKey, listApiKeys, revokeApiKey } from '../../orgs/api-keys.js';
import { parseIsoDateTime } from '../../platform/iso-date-time.js';
import type { ServiceDeps } from '../../services.js';
import { renderApiKeysPage } from './api-keys-page.js';
import { type DashboardContextOf, sendHtml } from './dashboard-context.js';
import { formField } from './form-fields.js';

const API_KEY_ID = /^key_[0-9a-z]{26}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Settings → API keys, inside the dashboard plugin (its session hook, form tokens and HTML error pages apply):
 * - `GET /dashboard/settings/api-keys`: the organisation's keys, never their secrets;
 * - `POST /dashboard/settings/api-keys`: create one; the answer is the one page that shows the secret (no redirect,
 *   so it is never in a URL or history, and the dashboard's pages are `no-store`);
 * - `POST /dashboard/settings/api-keys/:id/revoke`.
 * Every signed-in user manages the keys of their own organisation; another organisation's key is "Not found".
 */
export function registerApiKeyPages(scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf): void {
  const { db, clock } = deps;

  scope.get('/settings/api-keys', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    const query = request.query as Record<string, string | undefined>;
    const revoked = query['revoked'] !== undefined && API_KEY_ID.test(query['revoked']) ? query['revoked'] : undefined;
    return sendHtml(
      reply,
      renderApiKeysPage({
        signedIn,
        keys: await listApiKeys(db, clock, organizationId),
        notice: revoked
          ? { kind: 'info', text: `Revoked ${revoked}.`, detail: 'It is refused from now on.' }
          : undefined,
      }),
    );
  });

  scope.post('/settings/api-keys', async (request, reply) => {
    const { signedIn, session, organizationId } = contextOf(request);
    const form = {
      name: (formField(request, 'name') ?? '').slice(0, 300),
      scope: formField(request, 'scope') === 'admin' ? 'admin' : 'standard',
      expiresOn: (formField(request, 'expiresOn') ?? '').trim(),
    };
    const refuse = async (text: string) =>
      sendHtml(
        reply,
        renderApiKeysPage({
          signedIn,
          keys: await listApiKeys(db, clock, organizationId),
          notice: { kind: 'error', text },
          form,
        }),
        400,
      );
    const expiresAt = form.expiresOn === '' ? null : endOfUtcDay(form.expiresOn);
    if (expiresAt === undefined) return refuse('The expiry is not a date that exists.');
    try {
      const created = await createApiKey(db, clock, organizationId, form.name, {
        scope: form.scope as ApiKeyScope,
        expiresAt,
        createdBy: `dashboard:${session.user.email}`,
      });
      const summary = await findApiKey(db, clock, organizationId, created.id);
      if (!summary) throw new Error(`API key ${created.id} vanished right after it was created`);
      return sendHtml(
        reply,
        renderApiKeysPage({
          signedIn,
          keys: await listApiKeys(db, clock, organizationId),
          created: { key: created.key, summary },
        }),
        201,
      );
    } catch (error) {
      if (error instanceof AppError && error.status === 400) return refuse(error.message);
      throw error;
    }
  });

  scope.post('/settings/api-keys/:id/revoke', async (request, reply) => {
    const { organizationId } = contextOf(request);
    const { id } = request.params as { id: string };
    const revoked = API_KEY_ID.test(id) ? await revokeApiKey(db, clock, organizationId, id) : undefined;
    if (!revoked) throw new AppError('API_KEY_NOT_FOUND', 'There is no such API key.', { status: 404 });
    return reply.redirect(`/dashboard/settings/api-keys?revoked=${encodeURIComponent(revoked.id)}`, 303);
  });
}

/** `YYYY-MM-DD` → the last millisecond of that UTC day, or undefined for a date that does not exist. */
function endOfUtcDay(value: string): number | undefined {
  if (!DATE.test(value)) return undefined;
  const parsed = parseIsoDateTime(value, { timeRequired: false });
  return parsed.ok ? parsed.time + 86_400_000 - 1 : undefined;
}
