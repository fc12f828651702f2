import { Agent, type Dispatcher, request } from 'undici';

/**
 * `fetch` for the back channel to Microsoft, on undici's `request`: the engine under Node's own `fetch` (the same
 * connection pooling, keep-alive handling and socket errors), without the WHATWG layers above it (a `Request`, web
 * streams for both bodies, an abort controller per request). Those layers cost about three times the CPU of the
 * request itself: 259–314 µs against 93–115 µs per token-sized POST (README Performance, refresh storm), and every
 * token refresh and Graph call pays them (issue 14).
 *
 * What callers rely on from `fetch` is kept:
 * - the answer is a real `Response` (openid-client checks), with the status and headers as received;
 * - a failure below HTTP rejects with `TypeError('fetch failed')` whose `cause` is undici's error, as `fetch` does,
 *   so the network evidence reads the same codes (src/microsoft/error-evidence.ts); a body lost after the status
 *   line resolves, and reading the body rejects (`TypeError('terminated')`), as with `fetch`;
 * - an aborted or timed-out `signal` rejects with the signal's reason (`AbortError`, `TimeoutError`);
 * - redirects are followed unless `redirect: 'manual'` (at most 20, `fetch`'s limit).
 *
 * A `Request` object, a body of another kind than text, bytes or form parameters, or a `redirect: 'error'` goes to
 * the global `fetch` unchanged: no caller of the back channel sends one.
 */
export async function requestFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const body = requestBody(init.body);
  if (input instanceof Request || body === UNSUPPORTED || init.redirect === 'error') return fetch(input, init);
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = new Headers(init.headers);
  if (init.body instanceof URLSearchParams && !headers.has('content-type')) {
    headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
  }
  const signal = init.signal ?? undefined;
  let answer: Dispatcher.ResponseData;
  try {
    answer = await request(input, {
      method: method as Dispatcher.HttpMethod,
      headers: Object.fromEntries(headers),
      body,
      signal,
      dispatcher,
      maxRedirections: init.redirect === 'manual' ? 0 : MAX_REDIRECTIONS,
    });
  } catch (error) {
    throw signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error });
  }
  const status = answer.statusCode;
  const received = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (Array.isArray(value)) for (const each of value) received.append(name, each);
    else if (value !== undefined) received.append(name, value);
  }
  const withoutBody = method === 'HEAD' || NULL_BODY_STATUSES.has(status);
  let bytes: ArrayBuffer;
  try {
    bytes = await answer.body.arrayBuffer();
  } catch (error) {
    if (withoutBody) return new Response(null, { status, headers: received });
    // The status line arrived (the request was received) and the body was lost: as with `fetch`, the answer
    // resolves and reading its body fails (the Graph client tells the two apart).
    const failure = signal?.aborted ? signal.reason : new TypeError('terminated', { cause: error });
    const lost = new ReadableStream({ start: (controller) => controller.error(failure) });
    return new Response(lost, { status, headers: received });
  }
  return new Response(withoutBody ? null : bytes, { status, headers: received });
}

/** One pool for the back channel, kept alive as `fetch`'s global dispatcher keeps its connections. */
const dispatcher = new Agent();

const MAX_REDIRECTIONS = 20;

/** Statuses whose `Response` must have no body (the Fetch standard's null body statuses). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

const UNSUPPORTED = Symbol('unsupported body');

function requestBody(body: RequestInit['body']): string | Uint8Array | undefined | typeof UNSUPPORTED {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return UNSUPPORTED;
}
