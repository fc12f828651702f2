import type { EmulatorContext } from '../context.js';
import type { SignInFlow } from '../state/model.js';
import { digest } from '../state/world.js';

/** How long a sign-in may sit on one of the pages before its flow token expires (AADSTS50089). */
const FLOW_LIFETIME_MS = 60 * 60 * 1000;

export type NewFlow = Omit<SignInFlow, 'flowHash' | 'createdAt' | 'expiresAt' | 'step' | 'userId' | 'sessionId'>;

function flows(ctx: EmulatorContext): Record<string, SignInFlow> {
  // A world restored from a snapshot made before flows existed has none.
  ctx.world.signInFlows ??= {};
  return ctx.world.signInFlows;
}

/** Starts a flow; returns the opaque id the pages carry (the world keeps its digest). */
export function createFlow(ctx: EmulatorContext, input: NewFlow): { id: string; flow: SignInFlow } {
  const now = ctx.clock.now();
  pruneFlows(ctx, now);
  const id = ctx.random.token(32);
  const flow: SignInFlow = {
    ...input,
    flowHash: digest(id),
    step: 'signIn',
    userId: null,
    sessionId: null,
    createdAt: now,
    expiresAt: now + FLOW_LIFETIME_MS,
  };
  flows(ctx)[flow.flowHash] = flow;
  return { id, flow };
}

/** The live flow behind a page's `flow` field, or undefined when unknown, finished or expired. */
export function findFlow(ctx: EmulatorContext, id: string): SignInFlow | undefined {
  const flow = flows(ctx)[digest(id)];
  if (!flow) return undefined;
  if (flow.expiresAt <= ctx.clock.now()) {
    delete flows(ctx)[flow.flowHash];
    return undefined;
  }
  return flow;
}

export function endFlow(ctx: EmulatorContext, flow: SignInFlow): void {
  delete flows(ctx)[flow.flowHash];
}

function pruneFlows(ctx: EmulatorContext, now: number): void {
  for (const [hash, flow] of Object.entries(flows(ctx))) {
    if (flow.expiresAt <= now) delete flows(ctx)[hash];
  }
}
