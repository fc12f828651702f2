import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext, FaultRule } from './context.js';
import { sendAadError, sendGraphError } from './errors.js';
import { logUnanswered } from './request-log.js';

export type FaultTarget = FaultRule['target'];

/**
 * Picks the first injected fault that applies to this request and uses one of its `remaining` shots.
 * A `graph` rule applies to every Graph request (sends included); `send` only to sends; `token` only to the
 * token endpoint. `userId` is the mailbox owner (null when unknown, e.g. a token request with a bad grant).
 */
export function takeFault(ctx: EmulatorContext, target: FaultTarget, userId: string | null): FaultRule | null {
  for (const rule of ctx.faults) {
    const targetMatches = rule.target === target || (rule.target === 'graph' && target === 'send');
    if (!targetMatches) continue;
    if (rule.userId !== null && rule.userId !== userId) continue;
    if (rule.probability < 1 && ctx.random.next() >= rule.probability) continue;
    if (rule.remaining !== null) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) ctx.faults.splice(ctx.faults.indexOf(rule), 1);
    }
    return rule;
  }
  return null;
}

/**
 * Closes the client's connection without an answer, as a dropped connection or a gateway timeout looks. The
 * request log still records it (status 0).
 */
export function dropConnection(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply): void {
  request.emulatorNote = request.emulatorNote ?? 'fault:drop';
  logUnanswered(ctx, request);
  reply.hijack();
  request.raw.socket.destroy();
  // No onResponse for a dropped request, yet `timeoutAfterAccept` did its work (a send was accepted).
  ctx.onStateChange?.();
}

/**
 * Acts on a fault before the handler runs. Returns `continue` when the handler should go on (latency was added,
 * or the fault is `timeoutAfterAccept`, which the handler honours after doing its work by calling
 * `dropConnection`), or `answered` when the fault already answered or dropped the request.
 */
export async function applyFaultBeforeHandler(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  fault: FaultRule,
  surface: 'graph' | 'identity',
): Promise<'continue' | 'answered'> {
  request.emulatorNote = `fault:${fault.kind}`;
  switch (fault.kind) {
    case 'latency':
      await sleep(fault.latencyMs ?? 1000);
      return 'continue';
    case 'timeoutAfterAccept':
      return 'continue';
    case 'drop':
      dropConnection(ctx, request, reply);
      return 'answered';
    case 'throttle429':
    case 'unavailable503': {
      const status = fault.kind === 'throttle429' ? 429 : 503;
      const retryAfterSeconds = fault.retryAfterSeconds ?? (status === 429 ? 2.128 : 5);
      if (surface === 'identity') {
        reply.header('retry-after', String(retryAfterSeconds));
        sendAadError(
          ctx,
          reply,
          {
            error: 'temporarily_unavailable',
            code: status === 429 ? 50196 : 90033,
            description:
              status === 429
                ? 'The server terminated an operation because it encountered a client request loop.'
                : 'A transient error has occurred. Please try again.',
          },
          status,
        );
        return 'answered';
      }
      if (status === 429) {
        sendGraphError(ctx, request, reply, 429, 'TooManyRequests', 'Please retry again later.', {
          retryAfterSeconds,
          innerError: { code: '429', message: 'Please retry after', status: '429' },
        });
      } else {
        sendGraphError(ctx, request, reply, 503, 'ServiceNotAvailable', 'The service is temporarily unavailable.', {
          retryAfterSeconds,
        });
      }
      return 'answered';
    }
  }
}
