import { requestFetch } from '../platform/http-transport.js';

/**
 * Where Microsoft's hosts are really served. mailbridge always speaks to `https://login.microsoftonline.com` and
 * `https://graph.microsoft.com` in its protocol code (so issuer checks, openid-client's Entra ID handling and
 * Graph's absolute links are exactly Microsoft's); in development and tests those hosts are served by the emulator,
 * and one fetch wrapper routes them there. docs/engineering.md §M: "keep the real URLs and route the back channel".
 */
export const MICROSOFT_LOGIN_ORIGIN = 'https://login.microsoftonline.com';
export const MICROSOFT_GRAPH_ORIGIN = 'https://graph.microsoft.com';
/**
 * Where Graph's upload sessions put their `uploadUrl` (a pre-authenticated URL: never send it the Graph token).
 * @see docs/graph.md §3.1 "PUT {uploadUrl}"
 */
export const MICROSOFT_OUTLOOK_ORIGIN = 'https://outlook.office.com';

export interface MicrosoftRoutes {
  /** Where login.microsoftonline.com is served (itself, or the emulator's origin). No trailing slash. */
  readonly login: string;
  /** Where graph.microsoft.com is served. No trailing slash. */
  readonly graph: string;
  /**
   * Where outlook.office.com is served. Default: itself when Graph is Microsoft's, else where Graph is served (the
   * emulator serves both hosts from one origin, so pointing Graph at it is enough).
   */
  readonly outlook?: string;
}

export const REAL_MICROSOFT_ROUTES: MicrosoftRoutes = { login: MICROSOFT_LOGIN_ORIGIN, graph: MICROSOFT_GRAPH_ORIGIN };

function outlookRoute(routes: MicrosoftRoutes): string {
  return routes.outlook ?? (routes.graph === MICROSOFT_GRAPH_ORIGIN ? MICROSOFT_OUTLOOK_ORIGIN : routes.graph);
}

/** Rewrites a URL on one of Microsoft's origins to where that origin is served; other URLs are unchanged. */
export function routeMicrosoftUrl(url: string, routes: MicrosoftRoutes): string {
  const origins: Array<[string, string]> = [
    [MICROSOFT_LOGIN_ORIGIN, routes.login],
    [MICROSOFT_GRAPH_ORIGIN, routes.graph],
    [MICROSOFT_OUTLOOK_ORIGIN, outlookRoute(routes)],
  ];
  for (const [origin, servedAt] of origins) {
    if (servedAt !== origin && (url === origin || url.startsWith(`${origin}/`) || url.startsWith(`${origin}?`))) {
      return servedAt + url.slice(origin.length);
    }
  }
  return url;
}

/** A `fetch` that sends requests for Microsoft's hosts where `routes` says. The transport seam of every client. */
export function createMicrosoftFetch(routes: MicrosoftRoutes, baseFetch: typeof fetch = requestFetch): typeof fetch {
  const routesNothing =
    routes.login === MICROSOFT_LOGIN_ORIGIN &&
    routes.graph === MICROSOFT_GRAPH_ORIGIN &&
    outlookRoute(routes) === MICROSOFT_OUTLOOK_ORIGIN;
  if (routesNothing) return baseFetch;
  return (input, init) => {
    if (input instanceof Request) {
      const routed = routeMicrosoftUrl(input.url, routes);
      return baseFetch(routed === input.url ? input : new Request(routed, input), init);
    }
    return baseFetch(routeMicrosoftUrl(input instanceof URL ? input.href : input, routes), init);
  };
}
