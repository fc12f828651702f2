import { randomUUID } from 'node:crypto';
import {
  type ErrorEvidence,
  evidenceFromGraphError,
  evidenceFromNetworkError,
  type HeadersLike,
} from '../microsoft/error-evidence.js';
import { GRAPH_ERROR_CODES, GraphError } from './graph-error.js';
import type {
  GraphAttachmentItem,
  GraphDeltaPage,
  GraphFileAttachment,
  GraphMailboxSettings,
  GraphMailFolder,
  GraphMessage,
  GraphMessageRule,
  GraphMessageRuleInput,
  GraphMessageUpdate,
  GraphOutgoingMessage,
  GraphPage,
  GraphReplyInput,
  GraphUploadSession,
  GraphUser,
  ODataQuery,
} from './graph-types.js';

export interface GraphClientOptions {
  /** `https://graph.microsoft.com/v1.0`, or the emulator's Graph base URL. No trailing slash needed. */
  baseUrl: string;
  /** The one transport seam. Defaults to Node's global `fetch`. */
  fetch?: typeof fetch;
  /** Per request, including reading the body. Default 30 s. */
  timeoutMs?: number;
  /**
   * Send `Prefer: IdType="ImmutableId"` so message ids survive moves. Off by default: ids then change on move, as
   * Graph documents; match by `internetMessageId` across moves. @see docs/graph.md §3.1
   */
  preferImmutableIds?: boolean;
}

/** A successful answer: the data, the HTTP status and Graph's `request-id` (for the attempt log). */
export interface GraphResponse<T> {
  data: T;
  status: number;
  requestId: string | undefined;
  /** The `client-request-id` we sent (a fresh UUID per request), echoed by Graph. */
  clientRequestId: string;
}

export type BodyContentType = 'text' | 'html';

export type UploadChunkResult = { done: false; nextExpectedRanges: string[] } | { done: true; location?: string };

export interface LargeAttachment {
  name: string;
  contentType?: string;
  bytes: Uint8Array;
  isInline?: boolean;
  contentId?: string;
}

/** Graph wants chunks in multiples of 320 KiB and under 4 MB. @see docs/graph.md §3.1 */
export const UPLOAD_CHUNK_UNIT = 320 * 1024;
export const DEFAULT_UPLOAD_CHUNK_SIZE = 10 * UPLOAD_CHUNK_UNIT;
export const DEFAULT_GRAPH_TIMEOUT_MS = 30_000;

type Expect = 'json' | 'empty';

interface RequestSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** A path under `baseUrl` (`/me/sendMail`) or an absolute URL already checked by the caller. */
  target: string;
  /** The access token, or null for upload URLs (which carry their own credential). */
  token: string | null;
  json?: unknown;
  bytes?: Uint8Array;
  headers?: Record<string, string>;
  expect: Expect;
  prefer?: string[];
}

function odataQueryString(query: ODataQuery | undefined): string {
  if (query === undefined) return '';
  const parts: string[] = [];
  const add = (key: string, value: string) => parts.push(`$${key}=${encodeURIComponent(value)}`);
  if (query.select?.length) add('select', query.select.join(','));
  if (query.filter !== undefined) add('filter', query.filter);
  if (query.orderby?.length) add('orderby', query.orderby.join(','));
  if (query.top !== undefined) add('top', String(query.top));
  if (query.skip !== undefined) add('skip', String(query.skip));
  if (query.count !== undefined) add('count', String(query.count));
  if (query.search !== undefined) add('search', query.search);
  if (query.expand?.length) add('expand', query.expand.join(','));
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

function segment(id: string): string {
  return encodeURIComponent(id);
}

function bodyContentPrefer(type: BodyContentType | undefined): string[] {
  return type === undefined ? [] : [`outlook.body-content-type="${type}"`];
}

/** The path of a URL without its query: what errors and logs may show. */
function displayPath(target: string): string {
  const noQuery = target.split('?', 1)[0] ?? target;
  try {
    return new URL(noQuery).pathname;
  } catch {
    return noQuery;
  }
}

/**
 * A thin typed client for the Graph v1.0 mail endpoints mailbridge uses. Methods take the access token; the
 * client holds none. Every failure throws a `GraphError` carrying `ErrorEvidence`; every success returns Graph's
 * `request-id`. @see docs/graph.md §3; docs/engineering.md §10
 */
export class GraphClient {
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #preferImmutableIds: boolean;

  constructor(options: GraphClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_GRAPH_TIMEOUT_MS;
    this.#preferImmutableIds = options.preferImmutableIds ?? false;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  // ---- user and mailbox settings ----

  /**
   * `GET /me`: `id` equals the id_token's `oid` for work accounts only (personal: a 16-hex-digit CID); `mail` may be
   * null. @see docs/entra.md §1.6
   */
  getMe(token: string, options: { select?: string[] } = {}): Promise<GraphResponse<GraphUser>> {
    return this.#json(token, 'GET', `/me${odataQueryString({ select: options.select })}`);
  }

  getMailboxSettings(token: string): Promise<GraphResponse<GraphMailboxSettings>> {
    return this.#json(token, 'GET', '/me/mailboxSettings');
  }

  /** `PATCH /me/mailboxSettings` → 200 with only the updated properties. */
  updateMailboxSettings(
    token: string,
    patch: Partial<GraphMailboxSettings>,
  ): Promise<GraphResponse<Partial<GraphMailboxSettings>>> {
    return this.#json(token, 'PATCH', '/me/mailboxSettings', patch);
  }

  // ---- sending ----

  /**
   * `POST /me/sendMail` → 202, empty body. 202 means accepted, not delivered, and carries no message id: a timeout
   * here is an unknown outcome (see `isRetryable`). `saveToSentItems` defaults to true at Graph.
   * @see docs/graph.md §3.1
   */
  sendMail(
    token: string,
    message: GraphOutgoingMessage,
    options: { saveToSentItems?: boolean } = {},
  ): Promise<GraphResponse<void>> {
    const body: Record<string, unknown> = { message };
    if (options.saveToSentItems !== undefined) body.saveToSentItems = options.saveToSentItems;
    return this.#empty(token, 'POST', '/me/sendMail', body);
  }

  /** `POST /me/messages` → 201 draft. Needs Mail.ReadWrite. */
  createDraft(token: string, message: GraphOutgoingMessage): Promise<GraphResponse<GraphMessage>> {
    return this.#json(token, 'POST', '/me/messages', message);
  }

  /** `POST /me/messages/{id}/send` → 202; the message is saved to Sent Items. */
  sendDraft(token: string, messageId: string): Promise<GraphResponse<void>> {
    return this.#empty(token, 'POST', `/me/messages/${segment(messageId)}/send`);
  }

  /** `POST /me/messages/{id}/attachments` → 201. Inline attachments only (under 3 MB). */
  addAttachment(
    token: string,
    messageId: string,
    attachment: GraphFileAttachment,
  ): Promise<GraphResponse<GraphFileAttachment>> {
    return this.#json(token, 'POST', `/me/messages/${segment(messageId)}/attachments`, attachment);
  }

  /** `POST /me/messages/{id}/attachments/createUploadSession` → 201 `{uploadUrl, expirationDateTime, …}`. */
  createUploadSession(
    token: string,
    messageId: string,
    item: Omit<GraphAttachmentItem, 'attachmentType'>,
  ): Promise<GraphResponse<GraphUploadSession>> {
    return this.#json(token, 'POST', `/me/messages/${segment(messageId)}/attachments/createUploadSession`, {
      AttachmentItem: { attachmentType: 'file', ...item },
    });
  }

  /**
   * `PUT {uploadUrl}` with one chunk, no Authorization header (the URL carries its own credential).
   * Middle chunks → 200 `{nextExpectedRanges}`; the last → 201 with `Location`. @see docs/graph.md §3.1
   */
  async uploadChunk(
    uploadUrl: string,
    chunk: Uint8Array,
    range: { start: number; total: number },
  ): Promise<GraphResponse<UploadChunkResult>> {
    const url = this.#checkedUploadUrl(uploadUrl);
    const end = range.start + chunk.byteLength - 1;
    const { response, text, clientRequestId } = await this.#send({
      method: 'PUT',
      target: url,
      token: null,
      bytes: chunk,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `bytes ${range.start}-${end}/${range.total}`,
      },
      expect: 'empty',
    });
    const requestId = response.headers.get('request-id') ?? undefined;
    const parsed = text === '' ? {} : this.#parseJson(text, { method: 'PUT', path: displayPath(url) }, response);
    const ranges = (parsed as { nextExpectedRanges?: unknown }).nextExpectedRanges;
    const data: UploadChunkResult =
      response.status === 201 || !Array.isArray(ranges)
        ? { done: true, location: response.headers.get('location') ?? undefined }
        : { done: false, nextExpectedRanges: ranges.filter((r): r is string => typeof r === 'string') };
    return { data, status: response.status, requestId, clientRequestId };
  }

  /**
   * Attaches a large file (3–150 MB) to a draft: creates an upload session and sends the chunks in order.
   * Returns the final chunk's answer (its `Location` names the attachment). @see docs/graph.md §3.1
   */
  async uploadLargeAttachment(
    token: string,
    messageId: string,
    attachment: LargeAttachment,
    options: { chunkSize?: number } = {},
  ): Promise<GraphResponse<UploadChunkResult>> {
    const chunkSize = options.chunkSize ?? DEFAULT_UPLOAD_CHUNK_SIZE;
    const total = attachment.bytes.byteLength;
    const session = await this.createUploadSession(token, messageId, {
      name: attachment.name,
      size: total,
      ...(attachment.contentType === undefined ? {} : { contentType: attachment.contentType }),
      ...(attachment.isInline === undefined ? {} : { isInline: attachment.isInline }),
      ...(attachment.contentId === undefined ? {} : { contentId: attachment.contentId }),
    });
    let start = 0;
    for (;;) {
      const chunk = attachment.bytes.subarray(start, Math.min(start + chunkSize, total));
      const answer = await this.uploadChunk(session.data.uploadUrl, chunk, { start, total });
      start += chunk.byteLength;
      if (answer.data.done || start >= total) return answer;
    }
  }

  // ---- reading and changing messages ----

  /**
   * `GET /me/mailFolders/{folder}/messages` (folder id or well-known name: `inbox`, `sentitems`, `drafts`…).
   * One page; follow `nextLink` with `listNextPage`, or use `iterateMessages`.
   */
  listMessages(
    token: string,
    folder: string,
    odata: ODataQuery = {},
    options: { bodyContentType?: BodyContentType } = {},
  ): Promise<GraphResponse<GraphPage<GraphMessage>>> {
    return this.#page(
      token,
      `/me/mailFolders/${segment(folder)}/messages${odataQueryString(odata)}`,
      bodyContentPrefer(options.bodyContentType),
    );
  }

  /** Follows an `@odata.nextLink`. Refuses links outside `baseUrl`: the access token goes only to Graph. */
  async listNextPage<T>(
    token: string,
    nextLink: string,
    options: { bodyContentType?: BodyContentType } = {},
  ): Promise<GraphResponse<GraphPage<T>>> {
    return this.#page(token, this.#checkedNextLink(nextLink), bodyContentPrefer(options.bodyContentType));
  }

  /** Every message of a folder matching `odata`, page by page, at most `maxPages` pages (default 100). */
  async *iterateMessages(
    token: string,
    folder: string,
    odata: ODataQuery = {},
    options: { bodyContentType?: BodyContentType; maxPages?: number } = {},
  ): AsyncGenerator<GraphMessage, void, undefined> {
    const maxPages = options.maxPages ?? 100;
    let page = await this.listMessages(token, folder, odata, options);
    for (let pages = 1; ; pages += 1) {
      yield* page.data.value;
      const next = page.data.nextLink;
      if (next === undefined || pages >= maxPages) return;
      page = await this.listNextPage<GraphMessage>(token, next, options);
    }
  }

  getMessage(
    token: string,
    messageId: string,
    options: { select?: string[]; bodyContentType?: BodyContentType } = {},
  ): Promise<GraphResponse<GraphMessage>> {
    return this.#json(
      token,
      'GET',
      `/me/messages/${segment(messageId)}${odataQueryString({ select: options.select })}`,
      undefined,
      bodyContentPrefer(options.bodyContentType),
    );
  }

  /** `PATCH /me/messages/{id}` → 200 with the message. Body/subject/replyTo only on drafts. */
  updateMessage(token: string, messageId: string, patch: GraphMessageUpdate): Promise<GraphResponse<GraphMessage>> {
    return this.#json(token, 'PATCH', `/me/messages/${segment(messageId)}`, patch);
  }

  /** `POST /me/messages/{id}/move` → 201 with the message under a NEW id (unless immutable ids are on). */
  moveMessage(token: string, messageId: string, destinationId: string): Promise<GraphResponse<GraphMessage>> {
    return this.#json(token, 'POST', `/me/messages/${segment(messageId)}/move`, { destinationId });
  }

  /** `DELETE /me/messages/{id}` → 204 (moves it to Deleted Items). */
  deleteMessage(token: string, messageId: string): Promise<GraphResponse<void>> {
    return this.#empty(token, 'DELETE', `/me/messages/${segment(messageId)}`);
  }

  /** `POST /me/messages/{id}/reply` → 202. Needs Mail.Send. */
  reply(token: string, messageId: string, input: GraphReplyInput): Promise<GraphResponse<void>> {
    return this.#empty(token, 'POST', `/me/messages/${segment(messageId)}/reply`, input);
  }

  /** `POST /me/messages/{id}/createReply` → 201 draft. Needs Mail.ReadWrite. */
  createReply(token: string, messageId: string, input: GraphReplyInput = {}): Promise<GraphResponse<GraphMessage>> {
    return this.#json(token, 'POST', `/me/messages/${segment(messageId)}/createReply`, input);
  }

  /**
   * One page of `GET /me/mailFolders/{folder}/messages/delta`: the first call of a round (query options go only
   * there; Graph encodes them into the links), or a `nextLink` / `deltaLink` it returned (refused outside
   * `baseUrl`). `maxPageSize` is sent as `Prefer: odata.maxpagesize`. Rounds: message-delta.ts.
   * @see docs/graph.md §3.4
   */
  messageDeltaPage(
    token: string,
    from: { folder: string; odata?: Pick<ODataQuery, 'select' | 'filter' | 'orderby' | 'top'> } | { link: string },
    options: { maxPageSize?: number; bodyContentType?: BodyContentType } = {},
  ): Promise<GraphResponse<GraphDeltaPage>> {
    const target =
      'link' in from
        ? this.#checkedNextLink(from.link)
        : `/me/mailFolders/${segment(from.folder)}/messages/delta${odataQueryString(from.odata)}`;
    const prefer = bodyContentPrefer(options.bodyContentType);
    if (options.maxPageSize !== undefined) prefer.push(`odata.maxpagesize=${options.maxPageSize}`);
    return this.#json(token, 'GET', target, undefined, prefer);
  }

  // ---- folders ----

  /** `GET /me/mailFolders` (or a folder's `childFolders`). One page; follow `nextLink` with `listNextPage`. */
  listMailFolders(
    token: string,
    odata: ODataQuery = {},
    options: { parentFolderId?: string; includeHiddenFolders?: boolean } = {},
  ): Promise<GraphResponse<GraphPage<GraphMailFolder>>> {
    const base =
      options.parentFolderId === undefined
        ? '/me/mailFolders'
        : `/me/mailFolders/${segment(options.parentFolderId)}/childFolders`;
    let query = odataQueryString(odata);
    if (options.includeHiddenFolders) query += `${query === '' ? '?' : '&'}includeHiddenFolders=true`;
    return this.#page(token, `${base}${query}`, []);
  }

  /** `GET /me/mailFolders/{id or well-known name}`. */
  getMailFolder(token: string, folder: string): Promise<GraphResponse<GraphMailFolder>> {
    return this.#json(token, 'GET', `/me/mailFolders/${segment(folder)}`);
  }

  /** `POST /me/mailFolders` (or a parent's `childFolders`) → 201. */
  createMailFolder(
    token: string,
    folder: { displayName: string; isHidden?: boolean },
    options: { parentFolderId?: string } = {},
  ): Promise<GraphResponse<GraphMailFolder>> {
    const path =
      options.parentFolderId === undefined
        ? '/me/mailFolders'
        : `/me/mailFolders/${segment(options.parentFolderId)}/childFolders`;
    return this.#json(token, 'POST', path, folder);
  }

  // ---- inbox rules ----

  listMessageRules(token: string): Promise<GraphResponse<GraphPage<GraphMessageRule>>> {
    return this.#page(token, '/me/mailFolders/inbox/messageRules', []);
  }

  getMessageRule(token: string, ruleId: string): Promise<GraphResponse<GraphMessageRule>> {
    return this.#json(token, 'GET', `/me/mailFolders/inbox/messageRules/${segment(ruleId)}`);
  }

  /** `POST /me/mailFolders/inbox/messageRules` → 201 (adds `id`, `hasError`, `isReadOnly`). */
  createMessageRule(token: string, rule: GraphMessageRuleInput): Promise<GraphResponse<GraphMessageRule>> {
    return this.#json(token, 'POST', '/me/mailFolders/inbox/messageRules', rule);
  }

  updateMessageRule(
    token: string,
    ruleId: string,
    patch: Partial<GraphMessageRuleInput>,
  ): Promise<GraphResponse<GraphMessageRule>> {
    return this.#json(token, 'PATCH', `/me/mailFolders/inbox/messageRules/${segment(ruleId)}`, patch);
  }

  deleteMessageRule(token: string, ruleId: string): Promise<GraphResponse<void>> {
    return this.#empty(token, 'DELETE', `/me/mailFolders/inbox/messageRules/${segment(ruleId)}`);
  }

  // ---- transport ----

  async #json<T>(
    token: string,
    method: RequestSpec['method'],
    target: string,
    json?: unknown,
    prefer: string[] = [],
  ): Promise<GraphResponse<T>> {
    const spec: RequestSpec = { method, target, token, expect: 'json', prefer };
    if (json !== undefined) spec.json = json;
    const { response, text, clientRequestId } = await this.#send(spec);
    const data = this.#parseJson(text, { method, path: displayPath(target) }, response) as T;
    return {
      data,
      status: response.status,
      requestId: response.headers.get('request-id') ?? undefined,
      clientRequestId,
    };
  }

  async #empty(
    token: string,
    method: RequestSpec['method'],
    target: string,
    json?: unknown,
  ): Promise<GraphResponse<void>> {
    const spec: RequestSpec = { method, target, token, expect: 'empty' };
    if (json !== undefined) spec.json = json;
    const { response, clientRequestId } = await this.#send(spec);
    return {
      data: undefined,
      status: response.status,
      requestId: response.headers.get('request-id') ?? undefined,
      clientRequestId,
    };
  }

  async #page<T>(token: string, target: string, prefer: string[]): Promise<GraphResponse<GraphPage<T>>> {
    const answer = await this.#json<Record<string, unknown>>(token, 'GET', target, undefined, prefer);
    const raw = answer.data;
    if (!Array.isArray(raw.value)) {
      throw this.#invalidResponse('a collection without "value"', { method: 'GET', path: displayPath(target) }, answer);
    }
    const page: GraphPage<T> = { value: raw.value as T[] };
    if (typeof raw['@odata.nextLink'] === 'string') page.nextLink = raw['@odata.nextLink'];
    if (typeof raw['@odata.count'] === 'number') page.count = raw['@odata.count'];
    return { ...answer, data: page };
  }

  #checkedNextLink(nextLink: string): string {
    if (nextLink.startsWith(`${this.#baseUrl}/`)) return nextLink;
    throw new GraphError(
      GRAPH_ERROR_CODES.UNTRUSTED_URL,
      `refusing to follow a nextLink outside ${this.#baseUrl}`,
      { source: 'graph', errorCodes: [], requestSent: 'no' },
      { method: 'GET', path: displayPath(nextLink) },
    );
  }

  /** Upload URLs live on another host (outlook.office.com); they must at least be as secure as the base URL. */
  #checkedUploadUrl(uploadUrl: string): string {
    let url: URL | undefined;
    try {
      url = new URL(uploadUrl);
    } catch {
      url = undefined;
    }
    const secure = this.#baseUrl.startsWith('https:');
    const ok = url !== undefined && (url.protocol === 'https:' || (!secure && url.protocol === 'http:'));
    if (ok) return uploadUrl;
    throw new GraphError(
      GRAPH_ERROR_CODES.UNTRUSTED_URL,
      'refusing an upload URL that is not https',
      { source: 'graph', errorCodes: [], requestSent: 'no' },
      { method: 'PUT', path: displayPath(uploadUrl) },
    );
  }

  async #send(spec: RequestSpec): Promise<{ response: Response; text: string; clientRequestId: string }> {
    const url = spec.target.startsWith('/') ? `${this.#baseUrl}${spec.target}` : spec.target;
    const call = { method: spec.method, path: displayPath(url) };
    const clientRequestId = randomUUID();
    const headers: Record<string, string> = {
      accept: 'application/json',
      'client-request-id': clientRequestId,
      'return-client-request-id': 'true',
      ...spec.headers,
    };
    if (spec.token !== null) headers.authorization = `Bearer ${spec.token}`;
    const prefer = [...(spec.prefer ?? [])];
    if (this.#preferImmutableIds && spec.token !== null) prefer.push('IdType="ImmutableId"');
    if (prefer.length > 0) headers.prefer = prefer.join(', ');
    let body: string | Uint8Array | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.bytes !== undefined) {
      body = spec.bytes;
    }

    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: spec.method,
        headers,
        ...(body === undefined ? {} : { body }),
        // Graph does not redirect API calls; a redirect is an error, and must not carry the token elsewhere.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const evidence = evidenceFromNetworkError(err);
      const code = evidence.networkCode === 'TIMEOUT' ? GRAPH_ERROR_CODES.TIMEOUT : GRAPH_ERROR_CODES.NETWORK;
      throw new GraphError(code, `${call.method} ${call.path}: no answer (${evidence.networkCode})`, evidence, call, {
        cause: err,
      });
    }

    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      // The status line arrived, so Microsoft received the request; only the body was lost.
      const evidence: ErrorEvidence = {
        ...evidenceFromGraphError(response.status, undefined, response.headers as HeadersLike),
        networkCode: evidenceFromNetworkError(err).networkCode,
      };
      if (response.ok && spec.expect === 'empty') return { response, text: '', clientRequestId };
      if (!response.ok) throw GraphError.fromResponse(evidence, call, { cause: err });
      throw new GraphError(
        GRAPH_ERROR_CODES.INVALID_RESPONSE,
        `${call.method} ${call.path}: ${response.status} but the body was lost (${evidence.networkCode})`,
        evidence,
        call,
        { cause: err },
      );
    }

    if (!response.ok)
      throw GraphError.fromResponse(evidenceFromGraphError(response.status, text, response.headers), call);
    return { response, text, clientRequestId };
  }

  #parseJson(text: string, call: { method: string; path: string }, response: Response): unknown {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) return parsed;
    } catch {
      // Falls through to the error below: a 2xx whose body is not JSON is Graph breaking its contract.
    }
    throw this.#invalidResponse('a body that is not a JSON object', call, {
      status: response.status,
      requestId: response.headers.get('request-id') ?? undefined,
    });
  }

  #invalidResponse(
    what: string,
    call: { method: string; path: string },
    answer: { status: number; requestId: string | undefined },
  ): GraphError {
    const evidence: ErrorEvidence = { source: 'graph', httpStatus: answer.status, errorCodes: [], requestSent: 'yes' };
    if (answer.requestId !== undefined) evidence.requestId = answer.requestId;
    return new GraphError(
      GRAPH_ERROR_CODES.INVALID_RESPONSE,
      `${call.method} ${call.path}: ${answer.status} with ${what}`,
      evidence,
      call,
    );
  }
}
