import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import type { BrowserSession, BrowserSessionAccount, User } from '../state/model.js';
import { digest } from '../state/world.js';
import { readCookie } from './respond.js';

/**
 * The browser's sign-in session at the emulated login pages, behind Microsoft's cookie name `ESTSAUTH`. It
 * remembers who signed in (and whether with the second factor), so that the next authorize request skips the
 * password page. The cookie holds a random value; the world keeps its digest.
 */

export const SESSION_COOKIE = 'ESTSAUTH';

function sessions(ctx: EmulatorContext): Record<string, BrowserSession> {
  // A world restored from a snapshot made before sessions existed has none.
  ctx.world.browserSessions ??= {};
  return ctx.world.browserSessions;
}

export function findBrowserSession(ctx: EmulatorContext, request: FastifyRequest): BrowserSession | undefined {
  const cookie = readCookie(request, SESSION_COOKIE);
  return cookie ? sessions(ctx)[digest(cookie)] : undefined;
}

/**
 * The session's accounts that still count: the user exists, is enabled, and has not had their sessions revoked
 * (a password change or "revoke sessions" sets `tokensValidFrom`, which ends browser sessions too).
 */
export function liveAccounts(
  ctx: EmulatorContext,
  session: BrowserSession | undefined,
): Array<{ account: BrowserSessionAccount; user: User }> {
  if (!session) return [];
  const out: Array<{ account: BrowserSessionAccount; user: User }> = [];
  for (const account of session.accounts) {
    const user = ctx.world.users[account.userId];
    if (!user || user.disabled || user.tokensValidFrom > account.signedInAt) continue;
    out.push({ account, user });
  }
  return out;
}

/** The session still vouches for the second factor: passed, and not before an MFA demand (`mfaRequiredFrom`). */
export function secondFactorSatisfied(user: User, account: BrowserSessionAccount): boolean {
  if (!user.secondFactorCode) return true;
  if (account.secondFactorAt === null) return false;
  return user.mfaRequiredFrom === null || user.mfaRequiredFrom <= account.secondFactorAt;
}

/**
 * Records a completed sign-in in the browser's session (creating the session and its cookie when the browser has
 * none) and returns the account entry with its fresh `sid`.
 */
export function rememberSignIn(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
  options: { secondFactor: boolean },
): BrowserSessionAccount {
  const now = ctx.clock.now();
  let session = findBrowserSession(ctx, request);
  if (!session) {
    const cookie = ctx.random.token(32);
    session = { cookieHash: digest(cookie), createdAt: now, accounts: [] };
    sessions(ctx)[session.cookieHash] = session;
    reply.header('set-cookie', sessionCookie(cookie));
  }
  const account: BrowserSessionAccount = {
    userId: user.id,
    sid: ctx.random.guid(),
    signedInAt: now,
    secondFactorAt: options.secondFactor ? now : null,
  };
  session.accounts = [...session.accounts.filter((existing) => existing.userId !== user.id), account];
  return account;
}

/** Marks a remembered account as having just passed the second factor. */
export function recordSecondFactor(ctx: EmulatorContext, request: FastifyRequest, userId: string): void {
  const account = findBrowserSession(ctx, request)?.accounts.find((existing) => existing.userId === userId);
  if (account) account.secondFactorAt = ctx.clock.now();
}

/** Signs the browser out: every account, or only `userId`'s. */
export function signOut(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply, userId?: string): void {
  const session = findBrowserSession(ctx, request);
  if (!session) return;
  session.accounts = userId ? session.accounts.filter((account) => account.userId !== userId) : [];
  if (session.accounts.length === 0) {
    delete sessions(ctx)[session.cookieHash];
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly`);
  }
}

function sessionCookie(value: string): string {
  // Microsoft's cookie is `SameSite=None; Secure`. The emulator may be reached over plain http (or over https
  // routed to it by the client), so it sets Lax without Secure: that still travels with the top-level navigations
  // and same-site form posts the pages use.
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax`;
}
