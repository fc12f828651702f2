import type { FastifyError, FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { registerDeltaRoutes } from './delta-routes.js';
import { registerFolderRoutes } from './folder-routes.js';
import { GraphError, requestTooLarge, unreadableJson } from './graph-error.js';
import { registerMeRoutes } from './me-routes.js';
import { registerMessageRoutes } from './message-routes.js';
import { sendGraphFailure, UnreadableBody } from './pipeline.js';
import { registerSendRoutes } from './send-routes.js';
import { registerSettingsRoutes } from './settings-routes.js';
import { registerUploadRoutes } from './upload-routes.js';
import { registerUserinfoRoutes } from './userinfo-routes.js';

/**
 * Microsoft Graph v1.0 mail, served at `/v1.0/…` (and Outlook's upload URLs at `/api/v2.0/…`), in an
 * encapsulated Fastify scope so that its body parsing and error shapes do not touch identity or the control API.
 * @see docs/graph.md §3
 */
export function registerGraphRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.register(async (scope) => {
    // Graph answers malformed JSON with its own 400; parse leniently and let handlers decide.
    scope.removeContentTypeParser(['application/json']);
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(null, new UnreadableBody());
      }
    });
    // Bytes of any other type (upload chunks arrive as application/octet-stream, some clients send none).
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return sendGraphFailure(ctx, request, reply, requestTooLarge());
      }
      if (error.code?.startsWith('FST_ERR_CTP')) return sendGraphFailure(ctx, request, reply, unreadableJson());
      return sendGraphFailure(
        ctx,
        request,
        reply,
        new GraphError(500, 'InternalServerError', `The emulator failed: ${error.message}`),
      );
    });

    registerMeRoutes(scope, ctx);
    registerSendRoutes(scope, ctx);
    registerUploadRoutes(scope, ctx);
    registerDeltaRoutes(scope, ctx);
    registerMessageRoutes(scope, ctx);
    registerFolderRoutes(scope, ctx);
    registerSettingsRoutes(scope, ctx);
    registerUserinfoRoutes(scope, ctx);

    // Graph's answer for a path it does not know.
    scope.all('/v1.0/*', async (request, reply) => {
      const segment = (request.params as { '*': string })['*'].split('?')[0]!.split('/').filter(Boolean).pop() ?? '';
      return sendGraphFailure(
        ctx,
        request,
        reply,
        new GraphError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`),
      );
    });
  });
}
