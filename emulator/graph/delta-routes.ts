import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { Mailbox, MailChange, MailFolder, MailMessage, User } from '../state/model.js';
import { changeLogOf, firstEntryAfter } from './change-log.js';
import { GraphError } from './graph-error.js';
import { findMessage } from './mail-store.js';
import { messageSchema } from './message-query.js';
import { folderOrThrow } from './message-routes.js';
import { renderMessage } from './message-view.js';
import { parseCollectionQuery, queryOption } from './odata.js';
import { type GraphCall, graphRoute, SCOPES } from './pipeline.js';

/**
 * `GET /me/mailFolders/{id}/messages/delta`: incremental changes to the messages of one folder, as Graph pages
 * them (docs/graph.md §3.4; emulator/README.md "Delta queries" lists each fact):
 *
 * - A round is one or more calls: `@odata.nextLink` (`$skiptoken`) while there is more, then `@odata.deltaLink`
 *   (`$deltatoken`); the next round starts from the deltaLink and returns only what changed since
 *   [DOC].
 * - Query options are given on the first call only and encoded into the tokens; `$select`, `$top`, `changeType`
 *   (`created`/`updated`/`deleted`); `$filter` only `receivedDateTime ge|gt {value}`; `$orderby` only
 *   `receivedDateTime desc`; no `$search` [DOC].
 *   `Prefer: odata.maxpagesize={x}` sets the page size [DOC]; without it 10 [OBS: docs.rs io-msgraph].
 * - Removed messages are `{"@odata.type","id","@removed":{"reason":"deleted"}}` [DOC, a delete]; a
 *   move out of the folder is reported the same way in the source folder and as a new item (new id) in the
 *   target's delta [GUESS: Exchange reports a move as a delete + add per folder; "changed" is the directory
 *   objects' reason for soft deletes].
 * - An expired or unknown state token: 410 `SyncStateNotFound` [OBS],
 *   after which clients restart with a full sync.
 *
 * State: tokens carry the mailbox change-log sequence number they have seen (change-log.ts), so a round costs the
 * changes since its token. An initial round lists the folder's messages whose last change is at or below the
 * high-water mark taken at its first call (keyset pages); whatever changes meanwhile comes in the next round.
 */

type ChangeType = 'created' | 'updated' | 'deleted';

interface DeltaToken {
  v: 1;
  /** Mailbox owner and folder the state belongs to. */
  u: string;
  f: string;
  /** Phase: `i` the initial listing, `d` changes since `s`. */
  p: 'i' | 'd';
  /** Changes above this sequence number are reported (delta phase). */
  s: number;
  /** High-water mark of the round (set while paging). */
  h?: number;
  /** Keyset position: the last item's sort key in this round. */
  a?: [number, number];
  sel?: string[];
  ct?: ChangeType;
  /** `$filter=receivedDateTime ge|gt`: the operator and the instant (epoch ms). */
  rf?: ['ge' | 'gt', number];
  /** `$orderby=receivedDateTime desc`. */
  od?: true;
  top?: number;
  /** `$expand=attachments`. */
  ex?: true;
}

const MAX_PAGE_SIZE = 1000;
const ALLOWED_OPTIONS = new Set(['$select', '$top', '$filter', '$orderby', '$expand', '$skiptoken', '$deltatoken']);

function syncStateNotFound(detail: string): GraphError {
  return new GraphError(410, 'SyncStateNotFound', `The sync state generation is not found; ${detail}.`);
}

function badOption(message: string): GraphError {
  // [GUESS] code: Graph answers unsupported query options with 400 BadRequest in its other collections.
  return new GraphError(400, 'BadRequest', message);
}

function encodeToken(token: DeltaToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeTokenOrThrow(raw: string, user: User, folder: MailFolder): DeltaToken {
  let token: DeltaToken;
  try {
    token = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as DeltaToken;
  } catch {
    throw syncStateNotFound('the state token is not one this mailbox issued');
  }
  if (
    typeof token !== 'object' ||
    token === null ||
    token.v !== 1 ||
    token.u !== user.id ||
    token.f !== folder.id ||
    (token.p !== 'i' && token.p !== 'd') ||
    !Number.isSafeInteger(token.s)
  ) {
    throw syncStateNotFound('the state token is not one this mailbox issued for this folder');
  }
  return token;
}

function receivedFilterOrThrow(text: string): ['ge' | 'gt', number] {
  const match = /^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$/i.exec(text);
  const at = match ? Date.parse(match[2]!.replace(/^'(.*)'$/, '$1')) : Number.NaN;
  if (!match || Number.isNaN(at)) {
    throw badOption(
      `The filter '${text}' is not supported on delta: only receivedDateTime ge {value} or receivedDateTime gt {value}.`,
    );
  }
  return [match[1]!.toLowerCase() as 'ge' | 'gt', at];
}

/** The options of a first call, validated and ready to be encoded into the round's tokens. */
function initialTokenOrThrow(call: GraphCall, folder: MailFolder): DeltaToken {
  const query = call.request.query as Record<string, unknown>;
  for (const key of Object.keys(query)) {
    const lower = key.toLowerCase();
    if (lower === '$search' || lower === 'search') throw badOption('$search is not supported on delta.');
    if (lower.startsWith('$') && !ALLOWED_OPTIONS.has(lower)) {
      throw badOption(`The query option '${key}' is not supported on delta.`);
    }
  }
  const parsed = parseCollectionQuery({ $select: queryOption(query, 'select') ?? '' }, messageSchema);
  const token: DeltaToken = { v: 1, u: call.user.id, f: folder.id, p: 'i', s: 0 };
  if (parsed.select) token.sel = parsed.select;
  const changeType = (query.changeType ?? query.changetype) as unknown;
  if (changeType !== undefined) {
    if (changeType !== 'created' && changeType !== 'updated' && changeType !== 'deleted') {
      throw badOption(`changeType must be created, updated or deleted, not '${String(changeType)}'.`);
    }
    token.ct = changeType;
  }
  const filter = queryOption(query, 'filter');
  if (filter !== undefined && filter.trim() !== '') token.rf = receivedFilterOrThrow(filter);
  const orderBy = queryOption(query, 'orderby');
  if (orderBy !== undefined && orderBy.trim() !== '') {
    if (!/^\s*receivedDateTime\s+desc\s*$/i.test(orderBy)) {
      throw badOption(`The orderby '${orderBy}' is not supported on delta: only receivedDateTime desc.`);
    }
    token.od = true;
  }
  const expand = queryOption(query, 'expand');
  if (expand !== undefined && expand.trim() !== '') {
    if (!/^\s*attachments\s*$/i.test(expand)) throw badOption(`The expand '${expand}' is not supported on delta.`);
    token.ex = true;
  }
  const top = queryOption(query, 'top');
  if (top !== undefined) {
    const value = Number(top);
    if (!Number.isInteger(value) || value < 1) throw badOption(`Invalid value '${top}' for $top query option found.`);
    token.top = Math.min(value, MAX_PAGE_SIZE);
  }
  return token;
}

function pageSize(call: GraphCall, token: DeltaToken): number {
  const raw = call.request.headers.prefer;
  const prefer = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  const match = /odata\.maxpagesize\s*=\s*"?(\d+)"?/i.exec(prefer);
  const preferred = match ? Number(match[1]) : undefined;
  const size = preferred ?? token.top ?? call.ctx.settings.delta.defaultPageSize;
  return Math.max(1, Math.min(size, MAX_PAGE_SIZE));
}

function passesReceivedFilter(token: DeltaToken, message: MailMessage): boolean {
  if (!token.rf) return true;
  const received = Date.parse(message.receivedDateTime);
  return token.rf[0] === 'ge' ? received >= token.rf[1] : received > token.rf[1];
}

function compareKeys(a: [number, number], b: [number, number]): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** Sort key of a message in the initial listing: change order, or newest received first when asked. */
function initialKey(token: DeltaToken, message: MailMessage): [number, number] {
  const seq = message.changeSeq ?? 0;
  return token.od ? [-Date.parse(message.receivedDateTime), seq] : [seq, 0];
}

interface DeltaItem {
  key: [number, number];
  message?: MailMessage;
  removed?: MailChange;
}

function initialItems(mailbox: Mailbox, folder: MailFolder, token: DeltaToken, high: number): DeltaItem[] {
  const items: DeltaItem[] = [];
  for (const message of Object.values(mailbox.messages)) {
    if (message.parentFolderId !== folder.id || (message.changeSeq ?? 0) > high) continue;
    if (!passesReceivedFilter(token, message)) continue;
    items.push({ key: initialKey(token, message), message });
  }
  return items;
}

/**
 * The changes in (since, high] to this folder, in change order: per message its latest state, preceded by a
 * removal for each id it left the folder under that the client may still hold (a message moved out and back in
 * comes back under a new id).
 */
function changedItems(
  ctx: EmulatorContext,
  mailbox: Mailbox,
  folder: MailFolder,
  token: DeltaToken,
  high: number,
  immutableIds: boolean,
): DeltaItem[] {
  const log = changeLogOf(mailbox);
  const latest = new Map<string, { last: MailChange; created: boolean; removals: MailChange[] }>();
  for (let i = firstEntryAfter(log, token.s); i < log.entries.length; i++) {
    const entry = log.entries[i]!;
    if (entry.seq > high) break;
    if (entry.folderId !== folder.id) continue;
    const seen = latest.get(entry.immutableId) ?? { last: entry, created: false, removals: [] };
    seen.last = entry;
    seen.created ||= entry.kind === 'created';
    if (entry.kind === 'removed') seen.removals.push(entry);
    latest.set(entry.immutableId, seen);
  }
  const items: DeltaItem[] = [];
  const reportRemovals = !token.ct || token.ct === 'deleted';
  for (const { last, created, removals } of latest.values()) {
    let current: MailMessage | undefined;
    if (last.kind !== 'removed') {
      current = findMessage(ctx, mailbox, last.immutableId);
      // Moved on after the round's high-water mark: the next round reports where it went.
      if (current?.parentFolderId !== folder.id) current = undefined;
    }
    if (reportRemovals) {
      const reported = new Set([
        current ? removedId({ id: current.id, immutableId: current.immutableId }, immutableIds) : '',
      ]);
      for (const removal of removals) {
        const id = removedId(removal, immutableIds);
        if (reported.has(id)) continue;
        reported.add(id);
        items.push({ key: [removal.seq, 0], removed: removal });
      }
    }
    if (!current || (token.ct && token.ct !== (created ? 'created' : 'updated'))) continue;
    if (!passesReceivedFilter(token, current)) continue;
    items.push({ key: [last.seq, 0], message: current });
  }
  return items.sort((a, b) => compareKeys(a.key, b.key));
}

/** The id a removal is reported under: the one the client was given (immutable ids when it asks for them). */
function removedId(change: Pick<MailChange, 'id' | 'immutableId'>, immutableIds: boolean): string {
  return immutableIds ? change.immutableId : change.id;
}

function linkFor(call: GraphCall, option: '$skiptoken' | '$deltatoken', token: DeltaToken): string {
  const path = call.request.url.split('?', 1)[0]!;
  return `${call.ctx.urls.graph}${path}?${option}=${encodeToken(token)}`;
}

function messageDelta(call: GraphCall) {
  const folder = folderOrThrow(call.mailbox, call.params.folderId!);
  const query = call.request.query as Record<string, unknown>;
  const raw = queryOption(query, 'skiptoken') ?? queryOption(query, 'deltatoken');
  const token = raw === undefined ? initialTokenOrThrow(call, folder) : decodeTokenOrThrow(raw, call.user, folder);
  const log = changeLogOf(call.mailbox);
  const high = token.h ?? log.lastSeq;
  if (token.p === 'd' && token.s < log.floor) {
    throw syncStateNotFound(`generation=${token.s};[lowest=${log.floor}][highest=${log.lastSeq}]`);
  }

  let items =
    token.p === 'i'
      ? initialItems(call.mailbox, folder, token, high).sort((a, b) => compareKeys(a.key, b.key))
      : changedItems(call.ctx, call.mailbox, folder, token, high, call.prefs.immutableIds);
  const after = token.a;
  if (after) items = items.filter((item) => compareKeys(item.key, after) > 0);
  const size = pageSize(call, token);
  const page = items.slice(0, size);

  const render = { ...call.prefs, ...(token.sel ? { select: token.sel } : {}), expandAttachments: token.ex === true };
  const value = page.map((item) => {
    if (item.removed) {
      return {
        '@odata.type': '#microsoft.graph.message',
        id: removedId(item.removed, call.prefs.immutableIds),
        '@removed': { reason: 'deleted' },
      };
    }
    return { '@odata.type': '#microsoft.graph.message', ...renderMessage(item.message!, render) };
  });

  const body: Record<string, unknown> = {
    '@odata.context': `${call.ctx.urls.graph}/v1.0/$metadata#Collection(message)`,
  };
  if (items.length > size) {
    body['@odata.nextLink'] = linkFor(call, '$skiptoken', { ...token, h: high, a: page[page.length - 1]!.key });
  } else {
    const { h: _h, a: _a, ...options } = token;
    body['@odata.deltaLink'] = linkFor(call, '$deltatoken', { ...options, p: 'd', s: high });
  }
  body.value = value;
  return { status: 200, body };
}

export function registerDeltaRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  graphRoute(
    scope,
    ctx,
    { method: 'GET', path: '/mailFolders/:folderId/messages/delta', scopes: SCOPES.mailRead },
    messageDelta,
  );
}
