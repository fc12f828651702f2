import type { ServiceDeps } from '../services.js';

/**
 * Where a composed service is in its life, as readiness reports it: `serving`, then `draining` from the moment a
 * shutdown begins (SIGTERM): `/readyz` answers 503 from then on, so load balancers stop sending new requests
 * before the listener closes.
 */
export class ServiceLifecycle {
  #phase: 'serving' | 'draining' = 'serving';

  get draining(): boolean {
    return this.#phase === 'draining';
  }

  beginDrain(): void {
    this.#phase = 'draining';
  }
}

const lifecycles = new WeakMap<ServiceDeps, ServiceLifecycle>();

/**
 * The lifecycle of one composed service: the same object for the HTTP app (readiness), the ops listener and the
 * shutdown sequence of the composition root, without a process-wide global (tests run many services in one process).
 */
export function serviceLifecycle(deps: ServiceDeps): ServiceLifecycle {
  let lifecycle = lifecycles.get(deps);
  if (!lifecycle) {
    lifecycle = new ServiceLifecycle();
    lifecycles.set(deps, lifecycle);
  }
  return lifecycle;
}
