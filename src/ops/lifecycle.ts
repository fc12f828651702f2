/**
 * Where a composed service is in its life, as readiness reports it: `serving`, then `draining` from the moment a
 * shutdown begins (SIGTERM): `/readyz` answers 503 from then on, so load balancers stop sending new requests
 * before the listener closes. One per composed service (`deps.lifecycle`), shared by the HTTP app (readiness), the
 * ops listener and the shutdown sequence, without a process-wide global (tests run many services in one process).
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
