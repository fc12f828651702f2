import { MICROSOFT_LOGIN_ORIGIN } from '../microsoft/microsoft-routes.js';
import type { ServiceMetrics } from './service-metrics.js';

/**
 * Measures every back-channel request to Microsoft at the one transport seam (`deps.microsoft.fetch`,
 * docs/engineering.md §10), so the Graph client, openid-client and every caller are covered without touching them.
 * The URL seen here is Microsoft's real one (routing to the emulator happens below), so endpoint kinds are the same in
 * development, tests and production. Time is measured to the response headers: what Microsoft took to answer, not
 * how long we took to read a body.
 */

type Rule = readonly [method: string | null, path: RegExp, kind: string];

/** Graph paths (after `/v1.0`) by what they do, most specific first. @see docs/graph.md §3 */
const GRAPH_RULES: readonly Rule[] = [
  ['POST', /^\/(me|users\/[^/]+)\/sendMail$/i, 'send_mail'],
  ['POST', /^\/(me|users\/[^/]+)\/messages\/[^/]+\/send$/i, 'send_draft'],
  [
    'POST',
    /^\/(me|users\/[^/]+)\/messages\/[^/]+\/(reply|replyAll|forward|createReply|createReplyAll|createForward)$/i,
    'reply',
  ],
  [null, /^\/(me|users\/[^/]+)\/messages\/[^/]+\/attachments\/createUploadSession$/i, 'upload_session'],
  [null, /^\/(me|users\/[^/]+)\/messages\/[^/]+\/attachments/i, 'attachment'],
  ['POST', /^\/(me|users\/[^/]+)\/(mailFolders\/[^/]+\/)?messages$/i, 'create_draft'],
  ['DELETE', /^\/(me|users\/[^/]+)\/messages\/[^/]+$/i, 'delete_message'],
  ['PATCH', /^\/(me|users\/[^/]+)\/messages\/[^/]+$/i, 'update_message'],
  [null, /^\/(me|users\/[^/]+)\/messages\/[^/]+\/move$/i, 'move_message'],
  ['GET', /^\/(me|users\/[^/]+)\/(mailFolders\/[^/]+\/)?messages/i, 'read_messages'],
  [null, /^\/(me|users\/[^/]+)\/mailFolders\/[^/]+\/messageRules/i, 'message_rules'],
  [null, /^\/(me|users\/[^/]+)\/mailFolders/i, 'mail_folders'],
  [null, /^\/(me|users\/[^/]+)\/mailboxSettings/i, 'mailbox_settings'],
  ['GET', /^\/(me|users\/[^/]+)$/i, 'me'],
];

/** Identity platform paths (after the tenant segment). @see docs/entra.md §1 */
const IDENTITY_RULES: readonly Rule[] = [
  [null, /\/oauth2\/v2\.0\/token$/i, 'token'],
  [null, /\/\.well-known\/openid-configuration$/i, 'discovery'],
  [null, /\/discovery\/v2\.0\/keys$/i, 'jwks'],
];

export type MicrosoftService = 'graph' | 'identity';

/** Which service and endpoint kind a request to Microsoft is: a closed set of label values. */
export function classifyMicrosoftRequest(method: string, url: string): { service: MicrosoftService; endpoint: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { service: 'graph', endpoint: 'other' };
  }
  const upper = method.toUpperCase();
  const match = (rules: readonly Rule[], path: string) =>
    rules.find(([ruleMethod, pattern]) => (ruleMethod === null || ruleMethod === upper) && pattern.test(path))?.[2] ??
    'other';
  if (parsed.origin === MICROSOFT_LOGIN_ORIGIN)
    return { service: 'identity', endpoint: match(IDENTITY_RULES, parsed.pathname) };
  const versioned = /^\/(v1\.0|beta)(\/.*)$/.exec(parsed.pathname);
  // Upload sessions hand out absolute URLs of their own (outlook.office.com…): a chunk PUT has no /v1.0 prefix.
  if (!versioned) return { service: 'graph', endpoint: upper === 'PUT' ? 'upload_chunk' : 'other' };
  return { service: 'graph', endpoint: match(GRAPH_RULES, versioned[2] ?? '') };
}

function requestMethod(input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): string {
  return init?.method ?? (input instanceof Request ? input.method : 'GET');
}

function requestUrl(input: Parameters<typeof fetch>[0]): string {
  if (input instanceof Request) return input.url;
  return input instanceof URL ? input.href : input;
}

/** `fetch`, observed: latency by endpoint and status, and Graph's 429/503 counted as throttles. */
export function instrumentMicrosoftFetch(base: typeof fetch, metrics: ServiceMetrics): typeof fetch {
  return async (input, init) => {
    const { service, endpoint } = classifyMicrosoftRequest(requestMethod(input, init), requestUrl(input));
    const histogram = service === 'graph' ? metrics.graphRequestSeconds : metrics.identityRequestSeconds;
    const started = performance.now();
    let response: Response;
    try {
      response = await base(input, init);
    } catch (error) {
      histogram.observe({ endpoint, status: 'error' }, (performance.now() - started) / 1000);
      throw error;
    }
    const status = String(response.status);
    histogram.observe({ endpoint, status }, (performance.now() - started) / 1000);
    if (service === 'graph' && (response.status === 429 || response.status === 503)) {
      metrics.graphThrottles.inc({ endpoint, status });
    }
    return response;
  };
}
