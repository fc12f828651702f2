import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from '../../src/webhooks/signature.js';

/**
 * A host app's webhook endpoint, as a careful host app would write it: a real HTTP server that verifies every
 * delivery with `verifyWebhook` against the shared secret and its own clock (400 for a missing or malformed
 * signature or body, 401 for a mismatch or a timestamp outside the replay window), dedupes by event id, and records
 * what it accepted and rejected. Tests can make it fail (500) or hang for the next N requests.
 */
export interface ReceivedDelivery {
  /** The raw body bytes, as signed. */
  body: string;
  headers: Record<string, string>;
  /** The parsed event (accepted deliveries only). */
  event?: {
    id: string;
    type: string;
    organizationId: string;
    createdAt: string;
    accountId: string | null;
    ownerId: string | null;
    data: unknown;
  };
  /** Accepted, but an event id seen before (at-least-once delivery). */
  duplicate?: boolean;
  /** Rejected: the status we answered and the verification failure code. */
  status?: number;
  code?: string;
}

export interface WebhookReceiver {
  /** The URL to configure as WEBHOOK_URL. */
  url: string;
  accepted: ReceivedDelivery[];
  rejected: ReceivedDelivery[];
  /** Every request that reached the server, in arrival order, whatever the answer (failed and hung ones included). */
  requests: ReceivedDelivery[];
  /** The next `count` requests are answered 500 (after being recorded in `requests`). */
  failNext(count: number, status?: number): void;
  /** The next `count` requests get no answer at all until the receiver closes. */
  hangNext(count: number): void;
  /** Event ids accepted, once each. */
  acceptedEventIds(): string[];
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** The secret(s) it verifies with; a function when they are known only later (a generated endpoint secret). */
  secret: string | readonly string[] | (() => string | readonly string[]);
  /** The receiver's clock, in Unix seconds (default: real time). Share the service's manual clock in tests. */
  nowSeconds?: () => number;
  toleranceSeconds?: number;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const accepted: ReceivedDelivery[] = [];
  const rejected: ReceivedDelivery[] = [];
  const requests: ReceivedDelivery[] = [];
  const seen = new Set<string>();
  let failures: { count: number; status: number } = { count: 0, status: 500 };
  let hangs = 0;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
    const received: ReceivedDelivery = { body, headers };
    requests.push(received);

    if (hangs > 0) {
      hangs--;
      return; // No answer: the sender's timeout must fire. The socket is destroyed on close().
    }
    if (failures.count > 0) {
      failures = { ...failures, count: failures.count - 1 };
      response.writeHead(failures.status, { 'content-type': 'text/plain' }).end('receiver failing on purpose');
      return;
    }

    const reject = (status: number, code: string) => {
      rejected.push({ ...received, status, code });
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: code }));
    };
    if (request.method !== 'POST') return reject(405, 'METHOD_NOT_ALLOWED');
    const secret = typeof options.secret === 'function' ? options.secret() : options.secret;
    const verification = verifyWebhook(secret, body, headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()], {
      nowSeconds: nowSeconds(),
      ...(options.toleranceSeconds === undefined ? {} : { toleranceSeconds: options.toleranceSeconds }),
    });
    if (!verification.ok) {
      const malformed =
        verification.code === 'WEBHOOK_SIGNATURE_MISSING' || verification.code === 'WEBHOOK_SIGNATURE_MALFORMED';
      return reject(malformed ? 400 : 401, verification.code);
    }
    let event: ReceivedDelivery['event'];
    try {
      event = JSON.parse(body) as ReceivedDelivery['event'];
    } catch {
      return reject(400, 'BODY_NOT_JSON');
    }
    if (!event || typeof event.id !== 'string' || headers['mailbridge-event-id'] !== event.id) {
      return reject(400, 'EVENT_ID_MISMATCH');
    }
    const duplicate = seen.has(event.id);
    seen.add(event.id);
    accepted.push({ ...received, event, duplicate });
    response.writeHead(duplicate ? 200 : 204).end();
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/mailbridge`,
    accepted,
    rejected,
    requests,
    failNext(count, status = 500) {
      failures = { count, status };
    },
    hangNext(count) {
      hangs = count;
    },
    acceptedEventIds() {
      return [...seen];
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Posts raw bytes with the given headers to a receiver, as an attacker replaying or tampering would. */
export async function postRaw(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST', body, headers });
  return { status: response.status, body: await response.text() };
}
