import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  missingPermissions,
  parseGrantedScopes,
  permissionLines,
  requestedScopes,
} from '../../src/connect/permission-profiles.js';

/**
 * The granted-scope check on token-response `scope` values as Microsoft writes them. Microsoft's consent screen is
 * all or nothing for delegated permissions, so a narrower grant does not come out of a normal sign-in (and the
 * emulator, faithful to that, never issues one); these are the shapes the check must read right when it happens
 * (a tenant policy, a scope unsupported for an account type, a changed profile).
 */
describe('permission profiles', () => {
  it('asks Microsoft for the profile scopes', () => {
    assert.deepEqual(requestedScopes('send'), [
      'openid',
      'profile',
      'email',
      'offline_access',
      'User.Read',
      'Mail.Send',
    ]);
    assert.deepEqual(requestedScopes('warmup').slice(4), [
      'User.Read',
      'Mail.Send',
      'Mail.ReadWrite',
      'MailboxSettings.ReadWrite',
    ]);
    assert.deepEqual(permissionLines('send'), [
      'Sign you in and read your profile',
      'Send mail as you',
      'Maintain access to data you have given it access to',
    ]);
  });

  it('reads short and full names in any case, and never expects offline_access in `scope`', () => {
    assert.deepEqual(parseGrantedScopes('User.Read Mail.Send profile openid email'), [
      'User.Read',
      'Mail.Send',
      'profile',
      'openid',
      'email',
    ]);
    assert.deepEqual(
      missingPermissions('send', {
        scope: 'https://graph.microsoft.com/user.read https://graph.microsoft.com/Mail.Send openid',
        refreshTokenIssued: true,
      }),
      [],
    );
    assert.deepEqual(
      missingPermissions('send', { scope: 'User.Read Mail.Send profile openid email', refreshTokenIssued: true }),
      [],
    );
  });

  it('names what is missing', () => {
    assert.deepEqual(
      missingPermissions('send', { scope: 'User.Read profile openid email', refreshTokenIssued: true }),
      ['Mail.Send'],
    );
    assert.deepEqual(missingPermissions('warmup', { scope: 'User.Read Mail.Send openid', refreshTokenIssued: false }), [
      'Mail.ReadWrite',
      'MailboxSettings.ReadWrite',
      'offline_access',
    ]);
    assert.deepEqual(missingPermissions('send', { scope: undefined, refreshTokenIssued: true }), [
      'User.Read',
      'Mail.Send',
    ]);
  });
});
