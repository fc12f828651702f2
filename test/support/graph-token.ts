import type { EmulatorContext } from '../../emulator/context.js';
import { DEMO_IDS } from '../../emulator/seed.js';
import type { User } from '../../emulator/state/model.js';
import { issueAccessToken } from '../../emulator/state/tokens.js';

/** The delegated scopes mailbridge asks for (docs/graph.md §3.6). */
export const MAIL_SCOPES = ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite'] as const;

/**
 * An access token for a seeded user, as a finished sign-in would have issued it (the identity endpoints are not
 * needed). Default: the demo app and every mail scope.
 */
export function mintGraphToken(
  ctx: EmulatorContext,
  user: User,
  scopes: readonly string[] = MAIL_SCOPES,
  clientId: string = DEMO_IDS.clientId,
): string {
  return issueAccessToken(ctx, { clientId, userId: user.id, scopes: [...scopes] }).token;
}

export interface GraphAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or null for an empty body. */
  body: Record<string, unknown> | null;
  text: string;
}

/** One Graph call over real HTTP (`path` below `/v1.0`, or an absolute URL such as a nextLink). `body`: an object is sent as JSON, a string as text/plain (base64 MIME). */
export async function callGraph(
  baseUrl: string,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<GraphAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  const outgoing = init.headers as Record<string, string>;
  if (token !== null) outgoing.authorization = `Bearer ${token}`;
  if (typeof body === 'string') {
    outgoing['content-type'] ??= 'text/plain';
    init.body = body;
  } else if (body !== undefined) {
    outgoing['content-type'] ??= 'application/json';
    init.body = JSON.stringify(body);
  }
  const url = /^https?:/.test(path) ? path : `${baseUrl}${path.startsWith('/v1.0') ? '' : '/v1.0'}${path}`;
  const response = await fetch(url, init);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
    text,
  };
}

export interface GraphErrorBody {
  code: string;
  message: string;
  innerError: Record<string, unknown>;
}

/** The `error` object of a Graph error answer (fails the test when the answer is not one). */
export function errorOf(answer: GraphAnswer): GraphErrorBody {
  const error = answer.body?.error as GraphErrorBody | undefined;
  if (!error) throw new Error(`expected a Graph error, got ${answer.status} ${answer.text.slice(0, 200)}`);
  return error;
}

/** The `value` array of a Graph collection answer. */
export function valuesOf(answer: GraphAnswer): Array<Record<string, unknown>> {
  const value = answer.body?.value;
  if (!Array.isArray(value))
    throw new Error(`expected a Graph collection, got ${answer.status} ${answer.text.slice(0, 200)}`);
  return value as Array<Record<string, unknown>>;
}
