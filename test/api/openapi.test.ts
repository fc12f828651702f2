import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventComponentId } from '../../src/api/event-schemas.js';
import { allApiOperations, apiErrorCatalogue } from '../../src/api/openapi.js';
import { API_FEATURES } from '../../src/app.js';
import { EVENT_TYPES } from '../../src/events/event-recorder.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from './api-test-support.js';

const root = new URL('../../', import.meta.url).pathname;

/**
 * The routes the app really serves, read from Fastify's own route tree (`printRoutes`), not from our lists: a route
 * someone registers under /v1 without documenting it shows up here.
 *   ├── /v1/accounts (GET, HEAD)
 *   │   └── /:id (GET, HEAD, DELETE)
 */
function servedRoutes(tree: string): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    const path = (depth === 0 ? '' : (prefixes[depth - 1] ?? '')) + (match[2] ?? '');
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) routes.push({ method, path });
  }
  return routes;
}

/** `/v1/accounts/:id` → `/v1/accounts/{id}`. */
function toTemplate(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

describe('OpenAPI document', () => {
  let service: TestService;
  // biome-ignore lint/suspicious/noExplicitAny: the document is walked generically and checked with assert.
  let doc: any;

  before(async () => {
    service = await startTestService();
    const answer = await callApi(service, 'GET', '/v1/openapi.json');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
    doc = answer.body;
  });
  after(() => service.close());

  it('is OpenAPI 3.1 with a bearer API-key scheme and the service as server', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    assert.equal(doc.components.securitySchemes.apiKey.scheme, 'bearer');
    assert.equal(doc.servers[0].url, service.url);
    assert.deepEqual(doc.paths['/v1/openapi.json'].get.security, []);
  });

  it('documents every /v1 route the app serves, and serves every documented one', () => {
    const served = servedRoutes(service.app.printRoutes({ commonPrefix: false }))
      .filter((r) => r.path.startsWith('/v1/') && r.method !== 'HEAD')
      .map((r) => `${r.method.toLowerCase()} ${toTemplate(r.path)}`);
    // The parser must see our own routes, or the check below would pass on nothing.
    for (const known of [
      'get /v1/accounts/{id}',
      'delete /v1/owners/{ownerId}',
      'put /v1/owners/{ownerId}/email-provider',
    ]) {
      assert.ok(served.includes(known), `route tree parser missed ${known}`);
    }
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    );
    const undocumented = served.filter((route) => !documented.includes(route));
    assert.deepEqual(
      undocumented,
      [],
      'served under /v1 but missing from /v1/openapi.json: describe them as ApiOperations and list them in ' +
        'allApiOperations() (src/api/openapi.ts), or pass them as an ApiFeature (src/app.ts API_FEATURES)',
    );
    const unserved = documented.filter((route) => !served.includes(route));
    assert.deepEqual(unserved, [], 'documented in /v1/openapi.json but not served');
  });

  it('describes each operation completely: id, path parameters, success and error answers with their codes', () => {
    const catalogue = apiErrorCatalogue(API_FEATURES);
    const operationIds = new Set<string>();
    // biome-ignore lint/suspicious/noExplicitAny: operations are walked generically and checked with assert.
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`;
        assert.ok(op.operationId && !operationIds.has(op.operationId), `${where}: missing or duplicate operationId`);
        operationIds.add(op.operationId);
        assert.ok(op.summary, `${where}: no summary`);
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const pathParams = (op.parameters ?? [])
          .filter((p: { in: string }) => p.in === 'path')
          .map((p: { name: string }) => p.name);
        assert.deepEqual(pathParams.sort(), templated.sort(), `${where}: path parameters`);
        const statuses = Object.keys(op.responses);
        assert.ok(
          statuses.some((s) => s.startsWith('2')),
          `${where}: no success answer`,
        );
        assert.ok(statuses.includes('500'), `${where}: no 500 answer`);
        if (op.security === undefined) assert.ok(statuses.includes('401'), `${where}: authenticated but no 401`);
        for (const code of op['x-error-codes'] as string[]) {
          const entry = catalogue[code];
          assert.ok(entry, `${where}: ${code} is not in the error catalogue`);
          const response = op.responses[String(entry.status)];
          assert.ok(response?.description.includes(code), `${where}: ${code} not under ${entry.status}`);
        }
      }
    }
  });

  it('resolves every $ref to a component schema', () => {
    const refs: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, child] of Object.entries(value)) {
          if (key === '$ref' && typeof child === 'string') refs.push(child);
          else walk(child);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 10);
    for (const ref of refs) {
      const name = ref.replace('#/components/schemas/', '');
      assert.ok(ref.startsWith('#/components/schemas/') && doc.components.schemas[name], `unresolved $ref ${ref}`);
    }
    // Request bodies are described as accepted: a field with a default is optional.
    assert.deepEqual(doc.components.schemas.CreateConnectSession.required, ['ownerId']);
    assert.ok(doc.components.schemas.Account.required.includes('remediation'));
  });

  it('lists every error code the API modules throw', () => {
    // Modules whose AppErrors reach /v1 answers. Codes only the CLI can meet are named below.
    const files = [
      ...['src/api', 'src/orgs', 'src/owners'].flatMap((dir) =>
        readdirSync(join(root, dir)).map((file) => join(dir, file)),
      ),
      'src/accounts/account-view.ts',
      'src/accounts/disconnect-account.ts',
      'src/connect/connect-sessions.ts',
      // Features (API_FEATURES): their routes and the store they call.
      'src/warmup/warmup-api-routes.ts',
      'src/warmup/warmup-store.ts',
    ];
    const cliOnly = new Set<string>();
    const catalogue = apiErrorCatalogue(API_FEATURES);
    const thrown = new Set<string>();
    for (const file of files) {
      for (const match of readFileSync(join(root, file), 'utf8').matchAll(/new AppError\(\s*'([A-Z][A-Z0-9_]+)'/g)) {
        if (match[1]) thrown.add(match[1]);
      }
    }
    assert.ok(thrown.has('ACCOUNT_NOT_FOUND') && thrown.has('API_KEY_INVALID'), 'the scan found nothing');
    const missing = [...thrown].filter((code) => !cliOnly.has(code) && !catalogue[code]);
    assert.deepEqual(missing, [], 'thrown by an API module but not in src/api/api-errors.ts');
  });

  it('names the page cursor `after` on every list route; the message list marks its old `cursor` deprecated', () => {
    for (const path of ['/v1/accounts', '/v1/events', '/v1/messages', '/v1/webhook-deliveries']) {
      const names = (doc.paths[path].get.parameters as Array<{ name: string }>).map((p) => p.name);
      assert.ok(names.includes('after'), path);
    }
    const cursor = doc.paths['/v1/messages'].get.parameters.find((p: { name: string }) => p.name === 'cursor');
    assert.equal(cursor?.deprecated, true);
  });

  it('declares Idempotency-Key and the 200 replay on both send routes, with the 202 body shape', () => {
    for (const path of ['/v1/accounts/{id}/messages', '/v1/owners/{ownerId}/messages']) {
      const op = doc.paths[path].post;
      const header = op.parameters.find((p: { in: string; name: string }) => p.in === 'header');
      assert.equal(header?.name, 'Idempotency-Key', path);
      assert.equal(header?.required, false, path);
      const schemaOf = (status: string) => op.responses[status].content['application/json'].schema.$ref;
      assert.equal(schemaOf('200'), schemaOf('202'), path);
    }
  });

  it('documents each operation once per method, matching allApiOperations()', () => {
    const count = Object.values(doc.paths as Record<string, object>).reduce(
      (n, item) => n + Object.keys(item).length,
      0,
    );
    assert.equal(count, allApiOperations(API_FEATURES).length);
  });

  it('describes every event type with its typed data, in components and the 3.1 webhooks section', () => {
    assert.deepEqual(Object.keys(doc.webhooks).sort(), [...EVENT_TYPES].sort());
    const union = doc.components.schemas.Event.oneOf.map((entry: { $ref: string }) => entry.$ref);
    for (const type of EVENT_TYPES) {
      const ref = `#/components/schemas/${eventComponentId(type)}`;
      assert.ok(union.includes(ref), `Event lists ${type}`);
      const schema = doc.components.schemas[eventComponentId(type)];
      assert.equal(schema.properties.type.const, type);
      assert.ok(schema.required.includes('organizationId'), `${type} names its organisation`);
      assert.ok(Object.keys(schema.properties.data.properties ?? {}).length > 0, `${type} has typed data`);
      const hook = doc.webhooks[type].post;
      assert.equal(hook.requestBody.content['application/json'].schema.$ref, ref);
      assert.deepEqual(
        hook.parameters.map((p: { name: string }) => p.name),
        ['Mailbridge-Signature', 'Mailbridge-Event-Id', 'Mailbridge-Event-Type'],
      );
    }
    assert.deepEqual(doc.components.schemas.EventList.properties.data.items, { $ref: '#/components/schemas/Event' });
  });
});
