import type { FastifyInstance } from 'fastify';
import type { Logger } from '../platform/logger.js';
import { settleWithin } from '../platform/settle-within.js';
import type { ServiceDeps } from '../services.js';
import type { BackgroundWork } from '../worker/background-work.js';
import { releaseClaimedMessages } from './lease-release.js';

/**
 * The order in which a process stops on SIGTERM/SIGINT (issue 5 item 4), bounded by `graceMs` in total:
 * 1. readiness fails at once (`/readyz` 503), so load balancers and orchestrators stop routing to us;
 * 2. the PORT listener stops accepting connections and lets requests in flight finish (Fastify answers 503 to
 *    requests that arrive on kept-alive connections meanwhile), and at the same time the background loop stops
 *    after the tick in progress (`BackgroundWork.stop()`). Past the grace period, open connections are cut and
 *    the tick is left behind;
 * 3. outbox messages this process claimed but has not started sending are released for other workers
 *    (`releaseClaimedMessages`); a message whose request may have left keeps its lease for the recovery;
 * 4. the ops listener closes last (`/healthz` answers until the end: a liveness probe must not kill a process that is
 *    shutting down cleanly), then the database and whatever else the process opened.
 * Returns whether everything finished inside the grace period.
 */

export interface ShutdownParts {
  deps: ServiceDeps;
  logger: Logger;
  /** The PORT listener (roles all and api). */
  app?: FastifyInstance | undefined;
  /** The ops listener (MAILBRIDGE_OPS_PORT). */
  opsApp?: FastifyInstance | undefined;
  /** The background loop (roles all and worker). */
  worker?: BackgroundWork | undefined;
  /** Closes the database and the rest (embedded emulator): after everything else. */
  closeResources: () => Promise<void>;
  graceMs: number;
  /** Who holds this process's leases (default: this host and pid; see `processLeaseOwnerPrefix`). */
  leaseOwnerPrefix?: string;
}

export interface ShutdownReport {
  /** Everything finished inside the grace period. */
  clean: boolean;
  /** Outbox messages given back to the queue. */
  released: string[];
  elapsedMs: number;
}

/** Resolves true when `work` settles within `ms`, false when the time ran out first (the work goes on unobserved). */
function within(ms: number, work: Promise<unknown>, onError: (error: unknown) => void): Promise<boolean> {
  const settled = work.then(
    () => true,
    (error: unknown) => {
      onError(error);
      return true;
    },
  );
  return settleWithin(ms, settled, () => false);
}

export async function shutdownGracefully(parts: ShutdownParts): Promise<ShutdownReport> {
  const { deps, logger } = parts;
  const started = performance.now();
  const remaining = () => parts.graceMs - (performance.now() - started);
  const fail = (step: string) => (error: unknown) => logger.error({ err: error, step }, 'shutdown step failed');
  deps.lifecycle.beginDrain();
  logger.info({ graceMs: parts.graceMs }, 'shutting down: not ready any more, finishing requests and the current tick');

  const [httpDone, workerDone] = await Promise.all([
    parts.app ? within(remaining(), parts.app.close(), fail('http')) : Promise.resolve(true),
    parts.worker ? within(remaining(), parts.worker.stop(), fail('worker')) : Promise.resolve(true),
  ]);
  if (!httpDone && parts.app) {
    logger.warn('shutdown: requests still running after the grace period; closing their connections');
    parts.app.server.closeAllConnections();
  }
  if (!workerDone) logger.warn('shutdown: the background tick is still running after the grace period; leaving it');

  let released: string[] = [];
  if (parts.worker) {
    try {
      released = (
        await releaseClaimedMessages(deps, parts.leaseOwnerPrefix ? { leaseOwnerPrefix: parts.leaseOwnerPrefix } : {})
      ).released;
      if (released.length > 0) {
        logger.info({ released: released.length, messageIds: released }, 'shutdown: released claimed messages');
      }
    } catch (error) {
      // Not fatal: the leases expire on their own and another worker takes the messages then.
      fail('release')(error);
    }
  }

  if (parts.opsApp) await within(Math.max(1_000, remaining()), parts.opsApp.close(), fail('ops'));
  // A query stuck in the abandoned tick keeps its pool client: do not let closing the pool hang the exit.
  const closed = await within(Math.max(1_000, remaining()), parts.closeResources(), fail('close'));
  const clean = httpDone && workerDone && closed;
  const elapsedMs = Math.round(performance.now() - started);
  if (clean) logger.info({ elapsedMs }, 'shutdown complete');
  else logger.warn({ elapsedMs }, 'shutdown complete after cutting work short');
  return { clean, released, elapsedMs };
}
