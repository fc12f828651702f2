import { randomBytes } from 'node:crypto';
import {
  createEmulatorContext,
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from '../../emulator/index.js';
import { type DemoSeed, seedDemo } from '../../emulator/seed.js';

export interface SeededEmulator extends RunningEmulator {
  seed: DemoSeed;
  clientSecret: string;
  redirectUri: string;
}

/** A running emulator with the demo world, registered to redirect to `redirectUri` (a URL no one serves). */
export async function startSeededEmulator(
  options: EmulatorOptions & { redirectUris?: string[] } = {},
): Promise<SeededEmulator> {
  const ctx = createEmulatorContext({ seed: 'test-seed', ...options });
  const redirectUri = options.redirectUris?.[0] ?? 'http://localhost:3999/callback';
  const clientSecret = `secret-${randomBytes(12).toString('hex')}`;
  const seed = seedDemo(ctx, { redirectUris: options.redirectUris ?? [redirectUri], clientSecret });
  const emulator = await startEmulator({ ctx });
  return { ...emulator, seed, clientSecret, redirectUri };
}
