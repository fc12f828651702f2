import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services.js';
import { html } from './html.js';
import { renderPublicPage } from './page-layout.js';

/**
 * `GET /`: where a newcomer (or a developer following a link to the bare host) lands: what this service is and where
 * its parts live, instead of a JSON 404. It names no account, key or setting: anyone may read it.
 */
export function registerHomePage(app: FastifyInstance, deps: Pick<ServiceDeps, 'config'>): void {
  const onEmulator = deps.config.microsoft.mode === 'emulator';
  const page = renderPublicPage(
    { title: 'mailbridge', pageId: 'home' },
    html`<div class="card">
  <h1>mailbridge</h1>
  <p>Connects your users' Microsoft mailboxes (Outlook.com, Hotmail, Microsoft 365) and sends mail on their behalf through Microsoft Graph.</p>
  <ul>
    <li><a href="/dashboard" id="home-dashboard">Dashboard</a>: add email accounts, see their status, send, manage API keys (sign-in required).</li>
    <li><a href="/v1/openapi.json" id="home-openapi">Host API</a>: the OpenAPI 3.1 document of <code>/v1</code> (API key required for the routes).</li>
    <li>The README beside the code covers configuration, the API with curl examples, webhooks, security and operations.</li>
  </ul>
  ${
    onEmulator &&
    html`<p class="muted" id="home-emulator">Running on the built-in Microsoft emulator: sign-ins and mail stay on this machine. Mail to addresses outside the emulated world is kept by the emulator (its outside sink) and never delivered.</p>`
  }
</div>`,
  );
  app.get('/', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page),
  );
}
