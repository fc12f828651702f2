import type { JobContext } from './background-kind.js';

/** Accounts per keep-alive, health-check or bounce-scan batch (each is a token request or a Graph call). */
export const ACCOUNT_BATCH = 20;

/**
 * Keep-alive, health checks and bounce scans on pg-boss (issue 5 item 3, "cost what is due, not what exists"): the
 * due accounts are claimed from an indexed due column under a lease (`claimDueAccounts`), so an idle fleet costs one
 * index probe per sweep and a due account costs its own work; no job per account is needed. Batches run until one
 * comes back short. The first full batch invites a helper (one more sweep job of `name`, at most one waiting), which
 * does the same, so a backlog spreads over the workers; past the budget the rest goes to a new job.
 */
export async function sweepDueAccounts(context: JobContext, name: string, batch: () => Promise<number>): Promise<void> {
  const { deps, signal } = context;
  const deadline = performance.now() + context.sweepBudgetMs;
  let invited = false;
  for (;;) {
    const claimed = await batch();
    if (claimed < ACCOUNT_BATCH) return;
    const stopping = performance.now() > deadline || signal?.aborted === true;
    if (!invited || stopping) {
      invited = true;
      await deps.jobs.enqueue(deps.db, name, {}, { singletonKey: name });
    }
    if (stopping) return;
  }
}
