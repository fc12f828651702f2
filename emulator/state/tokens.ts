import type { EmulatorContext } from '../context.js';
import type { AccessTokenRecord, RefreshTokenRecord } from './model.js';
import { digest } from './world.js';

/**
 * Issuing and finding tokens. Tokens are opaque random strings (Graph access tokens are opaque to clients,
 * docs/entra.md §1.4); the world keeps only their digests. The token endpoint issues through here, and tests may
 * mint a token directly the same way a finished sign-in would.
 */

export function issueAccessToken(
  ctx: EmulatorContext,
  grant: { clientId: string; userId: string; scopes: string[] },
): { token: string; record: AccessTokenRecord; expiresIn: number } {
  const { min, max } = ctx.settings.accessTokenLifetimeSeconds;
  // Microsoft gives access tokens a random lifetime between 60 and 90 minutes. @see docs/entra.md §1.5
  const expiresIn = ctx.random.int(min, max);
  const token = `EwA${ctx.random.token(48)}`;
  const issuedAt = ctx.clock.now();
  const record: AccessTokenRecord = {
    tokenHash: digest(token),
    clientId: grant.clientId,
    userId: grant.userId,
    scopes: [...grant.scopes],
    issuedAt,
    expiresAt: issuedAt + expiresIn * 1000,
  };
  ctx.world.accessTokens[record.tokenHash] = record;
  return { token, record, expiresIn };
}

export function issueRefreshToken(
  ctx: EmulatorContext,
  grant: { clientId: string; userId: string; scopes: string[]; sessionId: string },
): { token: string; record: RefreshTokenRecord } {
  const token = `M.C5${ctx.random.token(64)}`;
  const issuedAt = ctx.clock.now();
  const record: RefreshTokenRecord = {
    tokenHash: digest(token),
    clientId: grant.clientId,
    userId: grant.userId,
    scopes: [...grant.scopes],
    issuedAt,
    expiresAt: issuedAt + ctx.settings.refreshTokenInactivitySeconds * 1000,
    revoked: false,
    sessionId: grant.sessionId,
  };
  ctx.world.refreshTokens[record.tokenHash] = record;
  return { token, record };
}

export function findAccessToken(ctx: EmulatorContext, token: string): AccessTokenRecord | undefined {
  return ctx.world.accessTokens[digest(token)];
}

export function findRefreshToken(ctx: EmulatorContext, token: string): RefreshTokenRecord | undefined {
  return ctx.world.refreshTokens[digest(token)];
}

/** Drops expired access tokens so that a long-running emulator's memory stays flat. */
export function pruneExpiredAccessTokens(ctx: EmulatorContext): number {
  const now = ctx.clock.now();
  let removed = 0;
  for (const [hash, record] of Object.entries(ctx.world.accessTokens)) {
    if (record.expiresAt <= now) {
      delete ctx.world.accessTokens[hash];
      removed++;
    }
  }
  return removed;
}
