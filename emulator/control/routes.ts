import type { FastifyError, FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { recentRequests } from '../request-log.js';
import type { DemoSeed } from '../seed.js';
import { saveSnapshot } from '../snapshot.js';
import type { OutsideMessage } from '../state/model.js';
import {
  addClientSecret,
  addFault,
  advanceClock,
  approveAdminApprovalRequest,
  changePassword,
  clearFaults,
  createApp,
  createTenant,
  createUser,
  deleteApp,
  deleteClientSecret,
  denyAdminApprovalRequest,
  expireClientSecret,
  findAppOrThrow,
  findApprovalRequestOrThrow,
  findMailboxOrThrow,
  grantAdminConsent,
  grantUserConsent,
  listUserConsents,
  type NewSecretInput,
  newDemoClientSecret,
  removeFault,
  resetEmulator,
  resolveFolderOrThrow,
  resolveTenantOrThrow,
  resolveUserOrThrow,
  revokeAdminConsent,
  revokeSessions,
  revokeUserConsent,
  seedDemoWorld,
  updateApp,
  updateSettings,
  updateTenant,
  updateUser,
} from './actions.js';
import { ControlError, invalidRequest } from './control-error.js';
import * as schemas from './schemas.js';
import { parseOrThrow, toEpochMs } from './schemas.js';
import {
  approvalRequestView,
  appView,
  clockView,
  consentView,
  deliveryView,
  faultView,
  iso,
  mailboxView,
  messageView,
  outsideView,
  pendingDeliveryView,
  requestLogView,
  tenantView,
  usageView,
  userDetailView,
  userView,
} from './views.js';

type Params<K extends string> = { Params: Record<K, string> };

/**
 * The control API under `/_emulator/…` (documented route by route in emulator/README.md). Handlers only parse,
 * call a named action from actions.ts and render a view from views.ts. Errors are `{"error":{"code","message"}}`.
 */
export function registerControlRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  void app.register(
    async (control) => {
      control.setErrorHandler((error: FastifyError, _request, reply) => {
        if (error instanceof ControlError) {
          return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
        }
        const status = error.statusCode ?? 500;
        if (status >= 400 && status < 500) {
          return reply.code(status).send({ error: { code: 'CONTROL_INVALID_REQUEST', message: error.message } });
        }
        return reply.code(500).send({ error: { code: 'CONTROL_INTERNAL_ERROR', message: error.message } });
      });
      control.setNotFoundHandler((request, reply) =>
        reply.code(404).send({
          error: {
            code: 'CONTROL_ROUTE_NOT_FOUND',
            message: `no control route ${request.method} ${request.url.split('?')[0]} (see emulator/README.md)`,
          },
        }),
      );

      // ---- overview, clock, settings ------------------------------------------------------------------------
      control.get('/', async () => ({
        seed: ctx.random.seed,
        clock: clockView(ctx),
        snapshotFile: ctx.snapshotFile ?? null,
        counts: {
          tenants: Object.keys(ctx.world.tenants).length,
          users: Object.keys(ctx.world.users).length,
          apps: Object.keys(ctx.world.apps).length,
          consents: Object.keys(ctx.world.consents).length,
          pendingAdminApprovalRequests: Object.values(ctx.world.adminApprovalRequests).filter(
            (request) => request.status === 'pending',
          ).length,
          deliveries: ctx.world.deliveries.length,
          outside: ctx.world.outside.length,
          faults: ctx.faults.length,
          requests: recentRequests(ctx).length,
        },
      }));

      control.get('/clock', async () => clockView(ctx));

      control.post('/clock/advance', async (request) => {
        const body = parseOrThrow(schemas.clockAdvanceBody, request.body);
        const seconds =
          (body.seconds ?? 0) + (body.minutes ?? 0) * 60 + (body.hours ?? 0) * 3600 + (body.days ?? 0) * 86_400;
        if (seconds <= 0) throw invalidRequest('body: give seconds, minutes, hours or days (positive numbers)');
        advanceClock(ctx, seconds);
        return { advancedSeconds: seconds, ...clockView(ctx) };
      });

      control.get('/settings', async () => ctx.settings);

      control.patch('/settings', async (request) =>
        updateSettings(ctx, parseOrThrow(schemas.settingsBody, request.body)),
      );

      // ---- tenants --------------------------------------------------------------------------------------------
      control.get('/tenants', async () => ({ tenants: Object.values(ctx.world.tenants).map(tenantView) }));

      control.post('/tenants', async (request, reply) => {
        const tenant = createTenant(ctx, parseOrThrow(schemas.createTenantBody, request.body));
        return reply.code(201).send(tenantView(tenant));
      });

      control.get<Params<'tenant'>>('/tenants/:tenant', async (request) =>
        tenantView(resolveTenantOrThrow(ctx, request.params.tenant)),
      );

      control.patch<Params<'tenant'>>('/tenants/:tenant', async (request) => {
        const tenant = resolveTenantOrThrow(ctx, request.params.tenant);
        return tenantView(updateTenant(ctx, tenant, parseOrThrow(schemas.updateTenantBody, request.body)));
      });

      control.put<Params<'tenant' | 'clientId'>>('/tenants/:tenant/admin-consents/:clientId', async (request) => {
        const tenant = resolveTenantOrThrow(ctx, request.params.tenant);
        const { scopes } = parseOrThrow(schemas.scopesBody, request.body);
        grantAdminConsent(ctx, tenant, request.params.clientId, scopes);
        return tenantView(tenant);
      });

      control.delete<Params<'tenant' | 'clientId'>>('/tenants/:tenant/admin-consents/:clientId', async (request) => {
        const tenant = resolveTenantOrThrow(ctx, request.params.tenant);
        revokeAdminConsent(ctx, tenant, request.params.clientId);
        return tenantView(tenant);
      });

      // ---- users ----------------------------------------------------------------------------------------------
      control.get('/users', async (request) => {
        const query = parseOrThrow(schemas.usersQuery, request.query, 'query');
        const tenantId = query.tenant ? resolveTenantOrThrow(ctx, query.tenant).id : null;
        const users = Object.values(ctx.world.users).filter(
          (user) =>
            (!tenantId || user.tenantId === tenantId) &&
            (!query.kind || user.kind === query.kind) &&
            (!query.email || user.email === query.email.toLowerCase()),
        );
        return { users: users.map(userView) };
      });

      control.post('/users', async (request, reply) => {
        const user = createUser(ctx, parseOrThrow(schemas.createUserBody, request.body));
        return reply.code(201).send(userDetailView(ctx, user));
      });

      control.get<Params<'user'>>('/users/:user', async (request) =>
        userDetailView(ctx, resolveUserOrThrow(ctx, request.params.user)),
      );

      control.patch<Params<'user'>>('/users/:user', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        updateUser(ctx, user, parseOrThrow(schemas.updateUserBody, request.body));
        return userDetailView(ctx, user);
      });

      control.post<Params<'user'>>('/users/:user/password', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const { password, ...options } = parseOrThrow(schemas.passwordBody, request.body);
        const result = changePassword(ctx, user, password, options);
        return { ...result, user: userDetailView(ctx, user) };
      });

      control.post<Params<'user'>>('/users/:user/revoke-sessions', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const result = revokeSessions(ctx, user, parseOrThrow(schemas.revocationBody, request.body));
        return { ...result, user: userDetailView(ctx, user) };
      });

      control.get<Params<'user'>>('/users/:user/consents', async (request) => ({
        consents: listUserConsents(ctx, resolveUserOrThrow(ctx, request.params.user)).map(consentView),
      }));

      control.put<Params<'user' | 'clientId'>>('/users/:user/consents/:clientId', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const { scopes } = parseOrThrow(schemas.scopesBody, request.body);
        return consentView(grantUserConsent(ctx, user, request.params.clientId, scopes));
      });

      control.delete<Params<'user' | 'clientId'>>('/users/:user/consents/:clientId', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const options = parseOrThrow(schemas.revocationQuery, request.query, 'query');
        return { revoked: true, ...revokeUserConsent(ctx, user, request.params.clientId, options) };
      });

      // ---- apps -----------------------------------------------------------------------------------------------
      control.get('/apps', async () => ({ apps: Object.values(ctx.world.apps).map((entry) => appView(ctx, entry)) }));

      control.post('/apps', async (request, reply) => {
        const { secret, ...input } = parseOrThrow(schemas.createAppBody, request.body);
        const created = createApp(ctx, { ...input, secret: secret ? secretInput(ctx, secret) : undefined });
        return reply.code(201).send({ ...appView(ctx, created.app), createdSecret: createdSecretView(created.secret) });
      });

      control.get<Params<'clientId'>>('/apps/:clientId', async (request) =>
        appView(ctx, findAppOrThrow(ctx, request.params.clientId)),
      );

      control.patch<Params<'clientId'>>('/apps/:clientId', async (request) => {
        const entry = findAppOrThrow(ctx, request.params.clientId);
        return appView(ctx, updateApp(ctx, entry, parseOrThrow(schemas.updateAppBody, request.body)));
      });

      control.delete<Params<'clientId'>>('/apps/:clientId', async (request) => {
        const entry = findAppOrThrow(ctx, request.params.clientId);
        deleteApp(ctx, entry);
        return { deleted: true, clientId: entry.clientId };
      });

      control.post<Params<'clientId'>>('/apps/:clientId/secrets', async (request, reply) => {
        const entry = findAppOrThrow(ctx, request.params.clientId);
        const { replaceExisting, ...fields } = parseOrThrow(schemas.newSecretBody, request.body);
        const secret = addClientSecret(ctx, entry, { ...secretInput(ctx, fields), replaceExisting });
        return reply.code(201).send(createdSecretView(secret));
      });

      control.post<Params<'clientId' | 'secretId'>>('/apps/:clientId/secrets/:secretId/expire', async (request) => {
        const entry = findAppOrThrow(ctx, request.params.clientId);
        expireClientSecret(ctx, entry, request.params.secretId);
        return appView(ctx, entry);
      });

      control.delete<Params<'clientId' | 'secretId'>>('/apps/:clientId/secrets/:secretId', async (request) => {
        const entry = findAppOrThrow(ctx, request.params.clientId);
        deleteClientSecret(ctx, entry, request.params.secretId);
        return appView(ctx, entry);
      });

      // ---- admin approval requests ----------------------------------------------------------------------------
      control.get('/admin-approval-requests', async (request) => {
        const query = parseOrThrow(schemas.approvalsQuery, request.query, 'query');
        const tenantId = query.tenant ? resolveTenantOrThrow(ctx, query.tenant).id : null;
        const requests = Object.values(ctx.world.adminApprovalRequests)
          .filter(
            (entry) =>
              (!query.status || entry.status === query.status) &&
              (!tenantId || entry.tenantId === tenantId) &&
              (!query.clientId || entry.clientId === query.clientId.toLowerCase()),
          )
          .sort((a, b) => a.createdAt - b.createdAt);
        return { requests: requests.map((entry) => approvalRequestView(ctx, entry)) };
      });

      control.get<Params<'id'>>('/admin-approval-requests/:id', async (request) =>
        approvalRequestView(ctx, findApprovalRequestOrThrow(ctx, request.params.id)),
      );

      control.post<Params<'id'>>('/admin-approval-requests/:id/approve', async (request) => {
        const entry = findApprovalRequestOrThrow(ctx, request.params.id);
        const result = approveAdminApprovalRequest(ctx, entry);
        return { ...result, request: approvalRequestView(ctx, entry) };
      });

      control.post<Params<'id'>>('/admin-approval-requests/:id/deny', async (request) => {
        const entry = findApprovalRequestOrThrow(ctx, request.params.id);
        const result = denyAdminApprovalRequest(ctx, entry);
        return { ...result, request: approvalRequestView(ctx, entry) };
      });

      // ---- faults ---------------------------------------------------------------------------------------------
      control.get('/faults', async () => ({ faults: ctx.faults.map((rule) => faultView(ctx, rule)) }));

      control.post('/faults', async (request, reply) => {
        const { userId, email, ...input } = parseOrThrow(schemas.createFaultBody, request.body);
        if (userId && email && resolveUserOrThrow(ctx, userId).id !== resolveUserOrThrow(ctx, email).id) {
          throw invalidRequest('body: userId and email name different users; give one of them');
        }
        const rule = addFault(ctx, { ...input, user: userId ?? email ?? null });
        return reply.code(201).send(faultView(ctx, rule));
      });

      control.delete('/faults', async () => ({ removed: clearFaults(ctx) }));

      control.delete<Params<'id'>>('/faults/:id', async (request) => {
        removeFault(ctx, request.params.id);
        return { removed: 1 };
      });

      // ---- mailboxes and mail -----------------------------------------------------------------------------------
      control.get<Params<'user'>>('/mailboxes/:user', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        return mailboxView(ctx, user, findMailboxOrThrow(ctx, user));
      });

      control.get<Params<'user'>>('/mailboxes/:user/messages', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const query = parseOrThrow(schemas.messagesQuery, request.query, 'query');
        return { messages: listMessages(findMailboxOrThrow(ctx, user), null, query) };
      });

      control.get<Params<'user' | 'folder'>>('/mailboxes/:user/folders/:folder/messages', async (request) => {
        const user = resolveUserOrThrow(ctx, request.params.user);
        const mailbox = findMailboxOrThrow(ctx, user);
        const folder = resolveFolderOrThrow(mailbox, request.params.folder);
        const query = parseOrThrow(schemas.messagesQuery, request.query, 'query');
        return {
          folder: folder.wellKnownName ?? folder.displayName,
          messages: listMessages(mailbox, folder.id, query),
        };
      });

      control.get('/outside', async (request) => {
        const query = parseOrThrow(schemas.outsideQuery, request.query, 'query');
        const to = query.to?.toLowerCase();
        const messages = ctx.world.outside.filter(
          (message) =>
            (!to || outsideRecipients(message).some((address) => address.toLowerCase() === to)) &&
            (!query.from || message.from.toLowerCase() === query.from.toLowerCase()) &&
            (!query.internetMessageId || message.internetMessageId === query.internetMessageId) &&
            (!query.subject || message.subject.toLowerCase().includes(query.subject.toLowerCase())),
        );
        return { messages: messages.map(outsideView) };
      });

      control.get('/deliveries', async (request) => {
        const query = parseOrThrow(schemas.deliveriesQuery, request.query, 'query');
        const sender = query.sender?.toLowerCase();
        const senderId = sender ? (tryResolveUserId(ctx, sender) ?? sender) : null;
        const recipient = query.recipient?.toLowerCase();
        const deliveries = ctx.world.deliveries.filter(
          (record) =>
            (!sender || record.senderUserId === senderId || record.from.toLowerCase() === sender) &&
            (!recipient || record.recipients.some((address) => address.toLowerCase() === recipient)) &&
            (!query.internetMessageId || record.internetMessageId === query.internetMessageId),
        );
        const pending = (ctx.world.pendingDeliveries ?? [])
          .map((each) => pendingDeliveryView(ctx, each))
          .filter(
            (view) =>
              (!sender || view.senderUserId === senderId || view.from.toLowerCase() === sender) &&
              (!recipient || view.recipients.includes(recipient)) &&
              (!query.internetMessageId || view.internetMessageId === query.internetMessageId),
          );
        return { deliveries: deliveries.map((record) => deliveryView(ctx, record)), pending };
      });

      control.get('/usage', async (request) => {
        const query = parseOrThrow(schemas.usageQuery, request.query, 'query');
        const userId = query.user ? resolveUserOrThrow(ctx, query.user).id : null;
        const usage = Object.values(ctx.usage).filter(
          (entry) =>
            (!userId || entry.userId === userId) &&
            (!query.clientId || entry.clientId === query.clientId.toLowerCase()),
        );
        return { limits: ctx.settings.limits, usage: usage.map((entry) => usageView(ctx, entry)) };
      });

      control.get('/requests', async (request) => {
        const query = parseOrThrow(schemas.requestsQuery, request.query, 'query');
        const userId = query.user ? resolveUserOrThrow(ctx, query.user).id : null;
        const matching = recentRequests(ctx).filter(
          (entry) =>
            (query.sinceSeq === undefined || entry.seq > query.sinceSeq) &&
            (!query.pathPrefix || entry.path.startsWith(query.pathPrefix)) &&
            (!query.method || entry.method === query.method) &&
            (!query.clientId || entry.clientId === query.clientId.toLowerCase()) &&
            (!userId || entry.userId === userId) &&
            (query.status === undefined || entry.status === query.status),
        );
        const limited = query.limit ? matching.slice(-query.limit) : matching;
        return { lastSeq: ctx.nextRequestSeq - 1, requests: limited.map(requestLogView) };
      });

      // ---- reset, demo seed, snapshot -------------------------------------------------------------------------
      control.post('/reset', async (request) => {
        const { demo } = parseOrThrow(schemas.resetBody, request.body);
        const generated = demo && !demo.clientSecret ? newDemoClientSecret(ctx) : null;
        const seeded = resetEmulator(ctx, {
          demo: demo && {
            redirectUris: demo.redirectUris,
            clientSecret: demo.clientSecret ?? generated!,
            secretExpiresAt: demo.secretExpiresAt === undefined ? undefined : toEpochMs(demo.secretExpiresAt),
          },
        });
        return { reset: true, demo: seeded ? demoView(ctx, seeded, generated) : null };
      });

      control.post('/seed/demo', async (request, reply) => {
        const body = parseOrThrow(schemas.seedDemoBody, request.body);
        const generated = body.clientSecret ? null : newDemoClientSecret(ctx);
        const seeded = seedDemoWorld(ctx, {
          redirectUris: body.redirectUris,
          clientSecret: body.clientSecret ?? generated!,
          secretExpiresAt: body.secretExpiresAt === undefined ? undefined : toEpochMs(body.secretExpiresAt),
        });
        return reply.code(201).send(demoView(ctx, seeded, generated));
      });

      control.post('/snapshot', async () => {
        const file = ctx.snapshotFile;
        if (!file) {
          throw new ControlError(
            'CONTROL_SNAPSHOT_NOT_CONFIGURED',
            'no snapshot file is configured: start the emulator with EMULATOR_SNAPSHOT=<file>',
            409,
          );
        }
        try {
          const saved = await saveSnapshot(ctx, file);
          return { ...saved, savedAt: iso(ctx.clock.now()) };
        } catch (error) {
          throw new ControlError('CONTROL_SNAPSHOT_FAILED', `could not write the snapshot to ${file}`, 500, {
            cause: error,
          });
        }
      });
    },
    { prefix: '/_emulator' },
  );
}

/**
 * The addresses a copy in the outside sink left for: the Graph module's envelope when it records one (only the
 * recipients outside emulated domains), else every to/cc/bcc address.
 */
function outsideRecipients(message: OutsideMessage): string[] {
  const envelope = (message as { envelopeTo?: string[] }).envelopeTo;
  return envelope ?? [...message.to, ...message.cc, ...message.bcc];
}

function tryResolveUserId(ctx: EmulatorContext, idOrEmail: string): string | null {
  try {
    return resolveUserOrThrow(ctx, idOrEmail).id;
  } catch {
    // An unknown sender is still a valid filter (mail that came in through the SMTP sink has no user).
    return null;
  }
}

function secretInput(
  ctx: EmulatorContext,
  fields: { value?: string; expiresAt?: string | number; expiresInSeconds?: number },
): NewSecretInput {
  if (fields.expiresAt !== undefined && fields.expiresInSeconds !== undefined) {
    throw invalidRequest('body: give expiresAt or expiresInSeconds, not both');
  }
  const expiresAt =
    fields.expiresAt !== undefined
      ? toEpochMs(fields.expiresAt)
      : fields.expiresInSeconds !== undefined
        ? ctx.clock.now() + fields.expiresInSeconds * 1000
        : undefined;
  return { value: fields.value, expiresAt };
}

/** The one place a secret value leaves the emulator: in the answer to the request that created it. */
function createdSecretView(secret: { id: string; value: string; hint: string; expiresAt: number } | null) {
  return secret ? { id: secret.id, value: secret.value, hint: secret.hint, expiresAt: iso(secret.expiresAt) } : null;
}

function demoView(ctx: EmulatorContext, seed: DemoSeed, generatedSecret: string | null) {
  return {
    app: appView(ctx, seed.app),
    users: Object.fromEntries(Object.entries(seed.users).map(([role, user]) => [role, userView(user)])),
    // Only a secret the emulator made up is returned (once); a caller who chose it already knows it.
    clientSecret: generatedSecret,
  };
}

function listMessages(
  mailbox: Parameters<typeof messageView>[0],
  folderId: string | null,
  query: { internetMessageId?: string; subject?: string; from?: string; attachmentContent?: boolean },
) {
  const from = query.from?.toLowerCase();
  return Object.values(mailbox.messages)
    .filter(
      (message) =>
        (!folderId || message.parentFolderId === folderId) &&
        (!query.internetMessageId || message.internetMessageId === query.internetMessageId) &&
        (!query.subject || message.subject.toLowerCase().includes(query.subject.toLowerCase())) &&
        (!from || message.from?.emailAddress.address.toLowerCase() === from),
    )
    .sort((a, b) => b.receivedDateTime.localeCompare(a.receivedDateTime))
    .map((message) => messageView(mailbox, message, { attachmentContent: query.attachmentContent }));
}
