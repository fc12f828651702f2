import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import type { EmulatorContext } from './context.js';
import { registerControlRoutes } from './control/routes.js';
import { deliverDueMail } from './graph/delivery.js';
import { registerGraphRoutes } from './graph/routes.js';
import { registerIdentityRoutes } from './identity/routes.js';
import { registerRequestLog } from './request-log.js';

/**
 * The emulator's HTTP surface: identity at `/{tenant}/…`, Graph at `/v1.0/…`, the control API at
 * `/_emulator/…`. Builds the app; never listens (see `startEmulator`).
 */
export async function buildEmulatorApp(ctx: EmulatorContext): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Graph accepts inline sends up to about 4 MB; leave room so the emulator, not Fastify, says no.
    bodyLimit: 64 * 1024 * 1024,
    // Microsoft's ids and tokens are case-sensitive; keep paths exactly as sent.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
  });
  await app.register(formbody);
  // sendMail accepts base64 MIME as text/plain; upload sessions PUT raw bytes.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  registerRequestLog(app, ctx);
  // Mail the transport held (over the per-minute rate) is delivered once the emulator clock reaches it, before any
  // request looks at the world.
  app.addHook('onRequest', async () => {
    deliverDueMail(ctx);
  });
  // After the answer, not before: a save then holds what the client was told (snapshot-autosave.ts).
  app.addHook('onResponse', async () => {
    ctx.onStateChange?.();
  });
  registerIdentityRoutes(app, ctx);
  registerGraphRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  return app;
}
