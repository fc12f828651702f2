import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import type { JobContext } from './background-kind.js';
import type { JobData } from './job-engine.js';

/** Runs one job of the named queue (a handler of the registry, `deps.background`). */
export type JobHandler = (name: string, data: JobData) => Promise<void>;

export interface JobHandlerOptions {
  /** The token provider the handlers share (one per process, so its single-flight covers them all). */
  provider: AccessTokenProvider;
  /** How long one lane pass may claim before handing the lane to a new job (default 20 s). */
  laneBudgetMs?: number;
  /** How long one sweep job may run before handing the rest to a new job (default 45 s). */
  sweepBudgetMs?: number;
  /** Aborted when the process shuts down: handlers stop taking new work and hand what is left to new jobs. */
  signal?: AbortSignal;
}

/** The context every pg-boss handler of one worker shares. */
export function jobContext(deps: ServiceDeps, options: JobHandlerOptions): JobContext {
  return {
    deps,
    provider: options.provider,
    laneBudgetMs: options.laneBudgetMs ?? 20_000,
    sweepBudgetMs: options.sweepBudgetMs ?? 45_000,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/**
 * What each job does, by queue name, as the registered declarations say (the job worker, the idle-fleet benchmark
 * and tests run jobs through it). An unknown name is a programming error: it throws.
 */
export function jobHandler(deps: ServiceDeps, options: JobHandlerOptions): JobHandler {
  const context = jobContext(deps, options);
  return async (name, data) => {
    const kind = deps.background.get(name);
    if (!kind) throw new Error(`no background work is registered as "${name}"`);
    await kind.handle(context, data);
  };
}
