import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REAL_MICROSOFT_ROUTES, routeMicrosoftUrl } from '../../src/microsoft/microsoft-routes.js';

describe('routing Microsoft hosts', () => {
  const emulator = 'http://127.0.0.1:4999';
  const upload = "https://outlook.office.com/api/gv1.0/users('a@b')/messages('m')/AttachmentSessions('s')?authtoken=x";

  it('sends the upload host where Graph is served unless told otherwise', () => {
    const routes = { login: emulator, graph: emulator };
    assert.equal(routeMicrosoftUrl(upload, routes), `${emulator}${upload.slice('https://outlook.office.com'.length)}`);
    assert.equal(routeMicrosoftUrl('https://graph.microsoft.com/v1.0/me', routes), `${emulator}/v1.0/me`);
    assert.equal(
      routeMicrosoftUrl(upload, { ...routes, outlook: 'http://127.0.0.1:5000' }),
      `http://127.0.0.1:5000${upload.slice('https://outlook.office.com'.length)}`,
    );
  });

  it("leaves Microsoft's hosts alone against real Microsoft, and other hosts that only start alike", () => {
    assert.equal(routeMicrosoftUrl(upload, REAL_MICROSOFT_ROUTES), upload);
    const routes = { login: emulator, graph: emulator };
    for (const url of ['https://graph.microsoft.com.evil.example/v1.0/me', 'https://outlook.office.comx/api']) {
      assert.equal(routeMicrosoftUrl(url, routes), url);
    }
  });
});
