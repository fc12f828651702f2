import type { EmulatorUrls } from './context.js';

/**
 * Microsoft's own origins. An emulator that presents itself under them (`urls`, or `--as-microsoft` on the command
 * line) writes them into everything a client reads back (issuers, discovery documents, `@odata.nextLink`, upload
 * URLs), and the client's fetch routes them to the emulator. @see docs/entra.md §1.1, docs/graph.md §3.1
 */
export const MICROSOFT_ORIGINS: Readonly<EmulatorUrls> = Object.freeze({
  login: 'https://login.microsoftonline.com',
  graph: 'https://graph.microsoft.com',
  // Upload sessions' `uploadUrl` lives here, not on Graph [OBS] (docs/graph.md §3.1).
  outlook: 'https://outlook.office.com',
});

/**
 * The public origins of an emulator listening at `ownUrl`: those given, then the emulator's own URL. The Outlook
 * host follows Graph when only Graph was given Microsoft's name, so that a client routing Microsoft's hosts keeps
 * reaching upload URLs the way it reaches Graph.
 */
export function completeUrls(given: Partial<EmulatorUrls>, ownUrl: string): EmulatorUrls {
  const graph = given.graph || ownUrl;
  const outlook = given.outlook || (graph === MICROSOFT_ORIGINS.graph ? MICROSOFT_ORIGINS.outlook : graph);
  return { login: given.login || ownUrl, graph, outlook };
}
