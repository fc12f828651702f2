import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import type { BodyContentType, GraphClient } from './graph-client.js';
import { GRAPH_ERROR_CODES, GraphError } from './graph-error.js';
import type { GraphDeltaPage, GraphMessage, GraphRemovedMessage, ODataQuery } from './graph-types.js';

/**
 * One delta round over a mail folder: follows `@odata.nextLink` until Graph answers an `@odata.deltaLink`, and
 * returns what changed plus the link that starts the next round. A sync state Graph no longer has (410
 * `SyncStateNotFound`) is an outcome, not an error: the caller restarts with a full sync (a round without a
 * deltaLink). Graph's other failures throw `GraphError` as every client call does.
 * @see docs/graph.md §3.4 (410 SyncStateNotFound)
 */

export type DeltaStart =
  /** A first round: the folder (id or well-known name) and the options Graph will encode into its links. */
  | { folder: string; odata?: Pick<ODataQuery, 'select' | 'filter' | 'orderby' | 'top'> }
  /** A later round: the `@odata.deltaLink` the previous round ended with. */
  | { deltaLink: string };

export interface DeltaRoundOptions {
  /** `Prefer: odata.maxpagesize`. */
  maxPageSize?: number;
  bodyContentType?: BodyContentType;
  /** Stop after this many pages (default 1000): a round that never ends is Graph breaking its contract. */
  maxPages?: number;
}

export type DeltaRound =
  | {
      kind: 'changes';
      /** Messages created in, moved into or updated in the folder: their current state (the `$select`ed part). */
      changed: GraphMessage[];
      /** Messages gone from the folder (deleted, or moved out: they reappear in the target folder's delta). */
      removed: GraphRemovedMessage[];
      deltaLink: string;
      /** Graph requests this round took. */
      pages: number;
    }
  | { kind: 'restart'; evidence: ErrorEvidence };

function isRemoved(item: GraphMessage | GraphRemovedMessage): item is GraphRemovedMessage {
  return typeof (item as GraphRemovedMessage)['@removed'] === 'object';
}

/** Whether Graph says the delta state is gone, so the client must sync the folder again from scratch. */
export function isSyncStateGone(error: unknown): error is GraphError {
  return (
    error instanceof GraphError &&
    (error.evidence.httpStatus === 410 || error.evidence.graphCode === 'SyncStateNotFound')
  );
}

export async function runDeltaRound(
  client: GraphClient,
  token: string,
  start: DeltaStart,
  options: DeltaRoundOptions = {},
): Promise<DeltaRound> {
  const maxPages = options.maxPages ?? 1000;
  const pageOptions = {
    ...(options.maxPageSize === undefined ? {} : { maxPageSize: options.maxPageSize }),
    ...(options.bodyContentType === undefined ? {} : { bodyContentType: options.bodyContentType }),
  };
  const changed: GraphMessage[] = [];
  const removed: GraphRemovedMessage[] = [];
  let from: Parameters<GraphClient['messageDeltaPage']>[1] =
    'deltaLink' in start
      ? { link: start.deltaLink }
      : start.odata
        ? { folder: start.folder, odata: start.odata }
        : { folder: start.folder };
  for (let pages = 1; pages <= maxPages; pages += 1) {
    let page: GraphDeltaPage;
    try {
      page = (await client.messageDeltaPage(token, from, pageOptions)).data;
    } catch (error) {
      if (isSyncStateGone(error)) return { kind: 'restart', evidence: error.evidence };
      throw error;
    }
    if (!Array.isArray(page.value)) throw invalid('a delta page without "value"');
    for (const item of page.value) (isRemoved(item) ? removed : changed).push(item as never);
    const deltaLink = page['@odata.deltaLink'];
    if (typeof deltaLink === 'string') return { kind: 'changes', changed, removed, deltaLink, pages };
    const nextLink = page['@odata.nextLink'];
    if (typeof nextLink !== 'string') throw invalid('a delta page with neither nextLink nor deltaLink');
    from = { link: nextLink };
  }
  throw invalid(`a delta round longer than ${maxPages} pages`);
}

function invalid(what: string): GraphError {
  return new GraphError(
    GRAPH_ERROR_CODES.INVALID_RESPONSE,
    `messages/delta: Graph answered ${what}`,
    { source: 'graph', errorCodes: [], requestSent: 'yes' },
    { method: 'GET', path: '/me/mailFolders/{folder}/messages/delta' },
  );
}
