import type { FastifyInstance } from 'fastify';
import { buildEmulatorApp } from './app.js';
import { EmulatorClock } from './clock.js';
import { defaultSettings, type EmulatorContext, type EmulatorSettings, type EmulatorUrls } from './context.js';
import { completeUrls } from './microsoft-hosts.js';
import { EmulatorRandom } from './random.js';
import { emptyWorld } from './state/model.js';

export { EmulatorClock } from './clock.js';
export type { EmulatorContext, EmulatorSettings } from './context.js';
export { EmulatorRandom } from './random.js';
export { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE, seedDemo } from './seed.js';

export interface EmulatorOptions {
  /** Makes ids, tokens, lifetimes and junk verdicts reproducible. */
  seed?: string;
  clock?: EmulatorClock;
  /** Deep-merged over the defaults (limits, lifetimes). */
  settings?: Partial<Omit<EmulatorSettings, 'limits'>> & { limits?: Partial<EmulatorSettings['limits']> };
  /** Public origins clients see; default: the emulator's own URL (the Outlook host follows Graph). */
  urls?: Partial<EmulatorUrls>;
}

export function createEmulatorContext(options: EmulatorOptions = {}): EmulatorContext {
  // A deep copy: tests and the control API change settings in place, which must not leak into other contexts.
  const defaults = structuredClone(defaultSettings);
  const settings: EmulatorSettings = {
    ...defaults,
    ...options.settings,
    limits: { ...defaults.limits, ...options.settings?.limits },
  };
  return {
    world: emptyWorld(),
    clock: options.clock ?? new EmulatorClock(),
    random: new EmulatorRandom(options.seed),
    settings,
    urls: { login: options.urls?.login ?? '', graph: options.urls?.graph ?? '', outlook: options.urls?.outlook ?? '' },
    requestLog: [],
    nextRequestSeq: 1,
    faults: [],
    usage: {},
  };
}

export interface RunningEmulator {
  /** The emulator's own origin, e.g. `http://127.0.0.1:41234`. */
  url: string;
  ctx: EmulatorContext;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * Starts an emulator on a real port (default: any free port on 127.0.0.1). Tests talk to it over real HTTP.
 * Pass `ctx` to serve a context prepared beforehand (seeded, restored from a snapshot).
 */
export async function startEmulator(
  options: EmulatorOptions & { port?: number; host?: string; ctx?: EmulatorContext } = {},
): Promise<RunningEmulator> {
  const ctx = options.ctx ?? createEmulatorContext(options);
  const app = await buildEmulatorApp(ctx);
  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const url = address.replace('[::1]', 'localhost');
  ctx.urls = completeUrls(ctx.urls, url);
  return { url, ctx, app, close: () => app.close() };
}
