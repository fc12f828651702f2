import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLIENT_TYPES_FILE, generateApiTypes } from '../../scripts/generate-client-types.js';
import { createApiKey } from '../../src/orgs/api-keys.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { callApi, seedAccount } from './api-test-support.js';
import { useEveryRoute } from './every-route-program.js';

const root = new URL('../../', import.meta.url).pathname;
const PROGRAM = join(root, 'test/api/every-route-program.ts');
const CLIENT_SOURCES = join(root, 'clients/typescript/src');
const CLIENT_IMPORT = '../../clients/typescript/src/index.js';

/** `method path` of every operation of the document, e.g. `get /v1/accounts/{id}`. */
function documentedRoutes(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
}

/** The `request('<METHOD>', '<path>'` calls of the program's source. */
function routesUsedBy(source: string): Set<string> {
  const calls = source.matchAll(/\.request\(\s*'(GET|POST|PUT|PATCH|DELETE)',\s*'([^']+)'/g);
  return new Set([...calls].map((call) => `${call[1]?.toLowerCase()} ${call[2]}`));
}

/**
 * The program (test/api/every-route-program.ts) and the client's sources in a temporary directory, with types
 * generated from `document` in place of the committed ones, type-checked strict by the repository's tsc.
 */
async function typeCheckAgainst(types: string): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-openapi-types-'));
  try {
    mkdirSync(join(dir, 'client'));
    for (const file of readdirSync(CLIENT_SOURCES)) {
      if (file !== 'api-types.ts') copyFileSync(join(CLIENT_SOURCES, file), join(dir, 'client', file));
    }
    writeFileSync(join(dir, 'client/api-types.ts'), types);
    const program = readFileSync(PROGRAM, 'utf8');
    assert.ok(program.includes(`'${CLIENT_IMPORT}'`), 'the program imports the client from its sources');
    writeFileSync(join(dir, 'program.ts'), program.replace(`'${CLIENT_IMPORT}'`, "'./client/index.js'"));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          lib: ['es2022', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          noEmit: true,
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
        },
        include: ['program.ts', 'client'],
      }),
    );
    const tsc = join(root, 'node_modules/.bin/tsc');
    try {
      await promisify(execFile)(tsc, ['--noEmit', '-p', join(dir, 'tsconfig.json')], { cwd: dir });
      return { ok: true, output: '' };
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      return { ok: false, output: `${stdout}${stderr}`.replaceAll(dir, '<tmp>') };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('TypeScript types generated from /v1/openapi.json (openapi-typescript)', () => {
  let service: TestService;
  let receiver: WebhookReceiver;
  // biome-ignore lint/suspicious/noExplicitAny: the document is walked generically and checked with assert.
  let document: any;
  let types: string;
  const secrets = ['first-endpoint-secret-0123456789abcdef', 'second-endpoint-secret-0123456789abcdef'] as const;

  before(async () => {
    receiver = await startWebhookReceiver({ secret: secrets });
    service = await startTestService();
    const answer = await callApi(service, 'GET', '/v1/openapi.json');
    assert.equal(answer.status, 200);
    document = answer.body;
    types = await generateApiTypes(document);
  });
  after(async () => {
    await service?.close();
    await receiver?.close();
  });

  it('the program uses every documented route', () => {
    const used = routesUsedBy(readFileSync(PROGRAM, 'utf8'));
    const routes = documentedRoutes(document);
    assert.ok(routes.length > 20 && used.size > 0, 'the document and the program were both read');
    assert.deepEqual(
      routes.filter((route) => !used.has(route)),
      [],
      'documented but unused by test/api/every-route-program.ts: add a typed call there',
    );
  });

  it('the program type-checks (strict) against the types generated from the document', async () => {
    assert.match(types, /export interface paths \{/);
    assert.match(types, /export interface webhooks \{/);
    const result = await typeCheckAgainst(types);
    assert.ok(result.ok, `tsc found the program and the document disagree:\n${result.output}`);
  });

  it('the program runs against the service: every call succeeds, the retried send answers 202 then 200', async () => {
    const organization = await createOrganization(service.deps.db, service.deps.clock, {
      name: 'Every Route',
      allowedReturnUrls: [],
    });
    const key = await createApiKey(service.deps.db, service.deps.clock, organization.id, 'program', {
      scope: 'admin',
    });
    const ownerId = 'owner-with-mailbox';
    const account = await seedAccount(service, {
      organizationId: organization.id,
      ownerId,
      email: 'recruiter@contoso.example',
      permissionProfile: 'warmup',
    });
    const result = await useEveryRoute({
      baseUrl: service.url,
      apiKey: key.key,
      ownerId,
      accountId: account.id,
      receiverUrl: receiver.url,
      webhookSecrets: secrets,
      deliverWebhooks: async () => {
        await deliverDueWebhooks(service.deps, { limit: 20 });
        return receiver.accepted.at(-1)?.body ?? '';
      },
    });
    assert.ok(
      result.statuses.every((status) => status >= 200 && status < 300),
      `statuses ${result.statuses.join(' ')}`,
    );
    assert.equal(result.documentVersion, '3.1.0');
    assert.equal(result.organizationName, 'Every Route');
    assert.equal(result.sessionState, 'pending');
    assert.equal(result.accountEmail, 'recruiter@contoso.example');
    assert.deepEqual(result.sendStatuses, [202, 200]);
    assert.equal(result.replayed.id, result.queued.id);
    assert.equal(result.queued.status, 'queued');
    assert.equal(result.canceled, 'canceled');
    assert.ok(result.listedMessageIds.includes(result.queued.id));
    assert.equal(result.deletedOwnerEvent, 'owner-who-leaves');
    assert.equal(receiver.accepted.at(-1)?.event?.type, 'owner.deleted');
    assert.equal(result.deliveredOwnerId, 'owner-who-leaves');
    assert.equal(result.warmupEnabled, true);
    assert.equal(result.warmupPoolSize, 1);
    assert.equal(result.retriedDelivery, 'pending');
    assert.equal(result.revokedKey, 'revoked');
    assert.equal(result.disconnected, 'disconnected');
  });

  it('clients/typescript/src/api-types.ts is what the current document generates', () => {
    assert.ok(
      readFileSync(CLIENT_TYPES_FILE, 'utf8') === types,
      'the committed client types are stale: run `npm run -s generate:client` and commit the result',
    );
  });
});
