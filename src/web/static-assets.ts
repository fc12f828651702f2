import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** The one stylesheet of the hosted pages and dashboard, served from /assets (the CSP allows no inline style). */
const STYLESHEET = readFileSync(new URL('./assets/app.css', import.meta.url), 'utf8');

export function registerStaticAssets(app: FastifyInstance): void {
  app.get('/assets/app.css', async (_request, reply) =>
    reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .send(STYLESHEET),
  );
}
