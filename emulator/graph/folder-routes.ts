import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { newGraphId } from '../state/builders.js';
import type { Mailbox, MailFolder } from '../state/model.js';
import { findFolder } from '../state/world.js';
import { GraphError, invalidValue, unknownProperty } from './graph-error.js';
import { isPlainObject } from './message-input.js';
import { folderOrThrow } from './message-routes.js';
import { folderStats, HIDDEN_WELL_KNOWN, renderFolder } from './message-view.js';
import {
  nextLink,
  type ODataSchema,
  parseCollectionQuery,
  queryOption,
  sortItems,
  unknownQueryProperty,
} from './odata.js';
import { type GraphCall, graphRoute, jsonBodyOrThrow, SCOPES } from './pipeline.js';

/**
 * Mail folders (docs/graph.md §3.1): list (top level or children) with `$top`/`$skip`/`$count`/`$filter`, get by id
 * or well-known name, create (409 ErrorFolderExists for a sibling with the same name), rename, delete.
 */

/** v1.0 mailFolder's properties (docs/graph.md §3.1; `sizeInBytes` exists in beta only). */
const FOLDER_PROPERTIES = [
  'id',
  'displayName',
  'parentFolderId',
  'childFolderCount',
  'unreadItemCount',
  'totalItemCount',
  'isHidden',
];

const folderSchema: ODataSchema<Record<string, unknown>> = {
  typeName: 'microsoft.graph.mailFolder',
  properties: new Map(FOLDER_PROPERTIES.map((name) => [name.toLowerCase(), name])),
  canonicalPath(path) {
    const name = path.length === 1 ? this.properties.get(path[0]!.toLowerCase()) : undefined;
    if (!name) throw unknownQueryProperty(path.join('/'), 'microsoft.graph.mailFolder');
    return [name];
  },
  valueAt(view, path) {
    return view[path[0]!];
  },
};

function listFolders(call: GraphCall, parent: MailFolder, collectionPath: string) {
  const query = parseCollectionQuery(call.request.query as Record<string, unknown>, folderSchema);
  const includeHidden = queryOption(call.request.query as Record<string, unknown>, 'includeHiddenFolders') === 'true';
  let views: Array<Record<string, unknown>> = [];
  const stats = folderStats(call.mailbox);
  for (const folder of Object.values(call.mailbox.folders)) {
    if (folder.parentFolderId !== parent.id) continue;
    if (!includeHidden && folder.wellKnownName !== null && HIDDEN_WELL_KNOWN.has(folder.wellKnownName)) continue;
    const view = renderFolder(call.mailbox, folder, undefined, stats);
    if (query.filter && !query.filter(view)) continue;
    views.push(view);
  }
  views = sortItems(views, folderSchema, query.orderBy, (a, b) =>
    String(a.displayName).localeCompare(String(b.displayName)),
  );
  const page = views.slice(query.skip, query.skip + query.top);
  const body: Record<string, unknown> = { '@odata.context': `${call.contextBase}/${collectionPath}` };
  if (query.count) body['@odata.count'] = views.length;
  body.value = page.map((view) => {
    if (!query.select) return view;
    const selected: Record<string, unknown> = { id: view.id };
    for (const name of query.select) selected[name] = view[name];
    return selected;
  });
  if (query.skip + query.top < views.length) {
    body['@odata.nextLink'] = nextLink(call.ctx.urls.graph, call.request.url, query.skip, query.top);
  }
  return { status: 200, body };
}

function readFolderInputOrThrow(raw: unknown, mode: 'create' | 'update'): { displayName?: string; isHidden?: boolean } {
  if (!isPlainObject(raw)) throw invalidValue('mailFolder', 'microsoft.graph.mailFolder');
  const out: { displayName?: string; isHidden?: boolean } = {};
  for (const [key, value] of Object.entries(raw)) {
    const lower = key.toLowerCase();
    if (lower === 'displayname') {
      if (typeof value !== 'string') throw invalidValue('displayName', 'Edm.String');
      out.displayName = value;
    } else if (lower === 'ishidden') {
      if (typeof value !== 'boolean') throw invalidValue('isHidden', 'Edm.Boolean');
      out.isHidden = value;
    } else if (!key.startsWith('@odata')) throw unknownProperty(key, 'microsoft.graph.mailFolder');
  }
  if (mode === 'create' && (!out.displayName || out.displayName.trim() === '')) {
    throw new GraphError(400, 'ErrorInvalidParameter', "The value of the parameter 'DisplayName' is empty.");
  }
  return out;
}

function assertNameFreeOrThrow(mailbox: Mailbox, parentId: string, name: string, except?: string): void {
  const wanted = name.trim().toLowerCase();
  for (const folder of Object.values(mailbox.folders)) {
    if (folder.parentFolderId === parentId && folder.id !== except && folder.displayName.toLowerCase() === wanted) {
      throw new GraphError(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
    }
  }
}

function createFolder(call: GraphCall, parent: MailFolder) {
  const input = readFolderInputOrThrow(jsonBodyOrThrow(call), 'create');
  const name = input.displayName!.trim();
  assertNameFreeOrThrow(call.mailbox, parent.id, name);
  const folder: MailFolder = {
    id: newGraphId(call.ctx),
    displayName: name,
    parentFolderId: parent.id,
    wellKnownName: null,
  };
  call.mailbox.folders[folder.id] = folder;
  return { status: 201, body: renderFolder(call.mailbox, folder, `${call.contextBase}/mailFolders/$entity`) };
}

export function registerFolderRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  const root = (call: GraphCall) => {
    const folder = findFolder(call.mailbox, 'msgfolderroot');
    if (!folder) throw new GraphError(500, 'ErrorInternalServerError', 'The mailbox has no root folder.');
    return folder;
  };
  graphRoute(scope, ctx, { method: 'GET', path: '/mailFolders', scopes: SCOPES.mailRead }, (call) =>
    listFolders(call, root(call), 'mailFolders'),
  );
  graphRoute(scope, ctx, { method: 'POST', path: '/mailFolders', scopes: SCOPES.mailWrite }, (call) =>
    createFolder(call, root(call)),
  );
  graphRoute(scope, ctx, { method: 'GET', path: '/mailFolders/:folderId', scopes: SCOPES.mailRead }, (call) => ({
    status: 200,
    body: renderFolder(
      call.mailbox,
      folderOrThrow(call.mailbox, call.params.folderId!),
      `${call.contextBase}/mailFolders/$entity`,
    ),
  }));
  graphRoute(
    scope,
    ctx,
    { method: 'GET', path: '/mailFolders/:folderId/childFolders', scopes: SCOPES.mailRead },
    (call) =>
      listFolders(
        call,
        folderOrThrow(call.mailbox, call.params.folderId!),
        `mailFolders('${call.params.folderId}')/childFolders`,
      ),
  );
  graphRoute(
    scope,
    ctx,
    { method: 'POST', path: '/mailFolders/:folderId/childFolders', scopes: SCOPES.mailWrite },
    (call) => createFolder(call, folderOrThrow(call.mailbox, call.params.folderId!)),
  );
  graphRoute(scope, ctx, { method: 'PATCH', path: '/mailFolders/:folderId', scopes: SCOPES.mailWrite }, (call) => {
    const folder = folderOrThrow(call.mailbox, call.params.folderId!);
    const input = readFolderInputOrThrow(jsonBodyOrThrow(call), 'update');
    if (input.displayName !== undefined) {
      if (folder.wellKnownName !== null) {
        throw new GraphError(
          400,
          'ErrorInvalidRequest',
          'The display name of a distinguished folder cannot be changed.',
        );
      }
      assertNameFreeOrThrow(call.mailbox, folder.parentFolderId ?? '', input.displayName, folder.id);
      folder.displayName = input.displayName.trim();
    }
    return { status: 200, body: renderFolder(call.mailbox, folder, `${call.contextBase}/mailFolders/$entity`) };
  });
  graphRoute(scope, ctx, { method: 'DELETE', path: '/mailFolders/:folderId', scopes: SCOPES.mailWrite }, (call) => {
    const folder = folderOrThrow(call.mailbox, call.params.folderId!);
    if (folder.wellKnownName !== null) {
      throw new GraphError(400, 'ErrorDeleteDistinguishedFolder', 'Distinguished folders cannot be deleted.');
    }
    // Exchange moves a deleted folder (with its contents) into Deleted Items.
    const deleted = findFolder(call.mailbox, 'deleteditems');
    folder.parentFolderId = deleted?.id ?? folder.parentFolderId;
    return { status: 204 };
  });
}
