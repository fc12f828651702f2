import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors/app-error.js';
import { isReturnUrlAllowed, normalizeAllowListOrThrow } from '../../src/orgs/organizations.js';

describe('return-URL allow-list (no open redirects)', () => {
  const org = {
    allowedReturnUrls: normalizeAllowListOrThrow([
      'https://app.example.com/mailbridge/done',
      'https://portal.example.org',
      'http://localhost:5173/cb/',
      'http://127.0.0.1:8080/x',
    ]),
  };

  const allowed = [
    'https://app.example.com/mailbridge/done',
    'https://app.example.com/mailbridge/done?state=1#top',
    'https://app.example.com/mailbridge/done/deeper',
    'https://APP.example.com/mailbridge/done',
    'https://app.example.com:443/mailbridge/done',
    'https://portal.example.org/',
    'https://portal.example.org/anything/at/all',
    'http://localhost:5173/cb/next',
    'http://127.0.0.1:8080/x',
  ];
  const refused = [
    // Another origin, scheme or port.
    'https://evil.example/mailbridge/done',
    'https://app.example.com.evil.example/mailbridge/done',
    'http://app.example.com/mailbridge/done',
    'https://app.example.com:8443/mailbridge/done',
    'https://portal.example.org.evil.example/',
    // A path that only looks like the allowed one.
    'https://app.example.com/mailbridge/done-evil',
    'https://app.example.com/mailbridge/donex',
    'https://app.example.com/mailbridge/',
    'https://app.example.com/mailbridge/done/../../admin',
    'https://app.example.com/mailbridge/done/%2e%2e/%2e%2e/admin',
    'http://localhost:5173/cb',
    // Loopback only when listed, with its port.
    'http://localhost:3000/cb/',
    'http://127.0.0.2:8080/x',
    'http://[::1]:8080/x',
    // Tricks browsers read differently: userinfo, backslashes, protocol-relative, missing or extra slashes.
    'https://app.example.com@evil.example/mailbridge/done',
    'https://user:pass@app.example.com/mailbridge/done',
    'https://evil.example\\@app.example.com/mailbridge/done',
    'https:\\\\app.example.com/mailbridge/done',
    'https:/app.example.com/mailbridge/done',
    'https:///app.example.com/mailbridge/done',
    '//app.example.com/mailbridge/done',
    '/mailbridge/done',
    'app.example.com/mailbridge/done',
    // Whitespace and control characters (stripped by URL parsers, not by every browser or proxy).
    ' https://app.example.com/mailbridge/done',
    'https://app.example.com/mailbridge/done\n',
    'https://app.exa\tmple.com/mailbridge/done',
    'https://app.example.com/mailbridge/done\u0000',
    // Other schemes.
    'javascript:alert(1)//https://app.example.com/mailbridge/done',
    'data:text/html,<script>alert(1)</script>',
    'ftp://app.example.com/mailbridge/done',
    '',
  ];

  for (const url of allowed) {
    it(`allows ${url}`, () => assert.equal(isReturnUrlAllowed(org, url), true));
  }
  for (const url of refused) {
    it(`refuses ${JSON.stringify(url)}`, () => assert.equal(isReturnUrlAllowed(org, url), false));
  }

  it('reads the database row as well as the view', () => {
    const row = { allowed_return_urls: JSON.stringify(org.allowedReturnUrls) };
    assert.equal(isReturnUrlAllowed(row, 'https://portal.example.org/x'), true);
    assert.equal(isReturnUrlAllowed(row, 'https://evil.example/'), false);
    assert.equal(isReturnUrlAllowed({ allowed_return_urls: 'not json' }, 'https://portal.example.org/x'), false);
  });

  it('allows nothing with an empty allow-list', () => {
    assert.equal(isReturnUrlAllowed({ allowedReturnUrls: [] }, 'https://app.example.com/'), false);
  });

  it('normalises entries and refuses entries that are not an origin + path', () => {
    assert.deepEqual(normalizeAllowListOrThrow(['https://A.example.com', 'https://a.example.com/']), [
      'https://a.example.com/',
    ]);
    for (const bad of [
      'http://app.example.com/',
      'https://app.example.com/?x=1',
      'https://app.example.com/#x',
      'https://u@app.example.com/',
      'javascript:alert(1)',
      '//app.example.com/',
      'app.example.com',
    ]) {
      assert.throws(
        () => normalizeAllowListOrThrow([bad]),
        (error: unknown) =>
          error instanceof AppError && error.code === 'ORG_RETURN_URL_INVALID' && error.status === 400,
        bad,
      );
    }
    assert.throws(
      () => normalizeAllowListOrThrow(Array.from({ length: 51 }, (_, i) => `https://a${i}.example.com/`)),
      (error: unknown) => error instanceof AppError && error.code === 'ORG_RETURN_URLS_TOO_MANY',
    );
  });
});
