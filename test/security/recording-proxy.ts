import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A transparent HTTP proxy in front of the emulator that keeps a copy of every request and response, bodies
 * included. Put between the service (and the scripted browser) and "Microsoft", it sees every secret that crosses
 * that wire in plaintext: the authorization code, the PKCE verifier, the client secret, the access, refresh and ID
 * tokens, the user's password typed at the sign-in page. The secrets scan collects them from here, so it checks for
 * exactly what passed, not for what we guess passed.
 */
export interface RecordedExchange {
  method: string;
  /** Path and query, as received. */
  path: string;
  requestHeaders: IncomingHttpHeaders;
  requestBody: string;
  status: number;
  responseHeaders: IncomingHttpHeaders;
  responseBody: string;
}

export interface RecordingProxy {
  url: string;
  exchanges: RecordedExchange[];
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const exchanges: RecordedExchange[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const requestBody = Buffer.concat(chunks);
    // The Host header is kept, so pages and redirects the emulator builds from it keep pointing at the proxy.
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      async (answer) => {
        const body: Buffer[] = [];
        for await (const chunk of answer) body.push(chunk as Buffer);
        const responseBody = Buffer.concat(body);
        exchanges.push({
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          requestHeaders: request.headers,
          requestBody: requestBody.toString('utf8'),
          status: answer.statusCode ?? 0,
          responseHeaders: answer.headers,
          responseBody: responseBody.toString('utf8'),
        });
        const headers = { ...answer.headers };
        delete headers['transfer-encoding'];
        headers['content-length'] = String(responseBody.length);
        response.writeHead(answer.statusCode ?? 502, headers).end(responseBody);
      },
    );
    forwarded.on('error', (error) => {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${error.message}`);
    });
    forwarded.end(requestBody);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Every secret value in the recorded traffic with OAuth: form fields and JSON members named like credentials, in
 * token requests and responses and in callback redirects. Returned with the name they travelled under.
 */
export function secretsInTraffic(exchanges: readonly RecordedExchange[]): Array<{ name: string; value: string }> {
  const found = new Map<string, string>();
  const add = (name: string, value: unknown) => {
    if (typeof value === 'string' && value.length > 0) found.set(value, name);
  };
  const formFields = ['code', 'code_verifier', 'client_secret', 'refresh_token', 'client_assertion', 'passwd', 'otc'];
  const jsonFields = ['access_token', 'refresh_token', 'id_token'];
  for (const exchange of exchanges) {
    const contentType = String(exchange.requestHeaders['content-type'] ?? '');
    if (contentType.startsWith('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(exchange.requestBody);
      for (const field of formFields) add(`${field} (sent to ${exchange.path.split('?')[0]})`, form.get(field));
    }
    const authorization = exchange.requestHeaders.authorization;
    if (typeof authorization === 'string' && /^Bearer /i.test(authorization)) {
      add('access_token (Authorization header)', authorization.slice(7).trim());
    }
    if (String(exchange.responseHeaders['content-type'] ?? '').includes('json')) {
      try {
        const body = JSON.parse(exchange.responseBody) as Record<string, unknown>;
        for (const field of jsonFields) add(`${field} (issued)`, body[field]);
      } catch {
        // Not JSON after all: nothing to collect.
      }
    }
    const location = exchange.responseHeaders.location;
    if (typeof location === 'string') {
      const params = new URL(location, 'http://x').searchParams;
      add('code (callback redirect)', params.get('code'));
    }
  }
  return [...found].map(([value, name]) => ({ name, value }));
}
