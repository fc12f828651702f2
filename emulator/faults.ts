import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext, FaultRule } from './context.js';
import { sendAadError, sendGraphError } from './errors.js';
import { RECORDED_ERRORS, type RecordedError } from './recorded-errors.js';
import { logUnanswered } from './request-log.js';

export type FaultTarget = FaultRule['target'];

/**
 * Picks the first injected fault that applies to this request and uses one of its `remaining` shots.
 * A `graph` rule applies to every Graph request (sends included); `send` only to sends; `token` only to the
 * token endpoint; `authorize` / `adminconsent` to the redirect back to the app after sign-in. `userId` is the
 * mailbox owner (null when unknown, e.g. a token request with a bad grant).
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

/** The recorded response of a `recorded` fault, on the surface it fits (checked when the fault was added). */
export function recordedErrorOf(fault: FaultRule): RecordedError | undefined {
  return fault.kind === 'recorded' && fault.recorded ? RECORDED_ERRORS[fault.recorded] : undefined;
}

function answerRecorded(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  fault: FaultRule,
  surface: 'graph' | 'identity',
): 'continue' | 'answered' {
  const recorded = recordedErrorOf(fault);
  if (recorded === undefined || recorded.surface !== surface) return 'continue';
  if (recorded.surface === 'graph')
    sendGraphError(ctx, request, reply, recorded.status, recorded.code, recorded.message);
  else sendAadError(ctx, reply, recorded.input, recorded.status);
  return 'answered';
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
    case 'recorded':
      return answerRecorded(ctx, request, reply, fault, surface);
    case 'drop':
      dropConnection(ctx, request, reply);
      return 'answered';
    case 'requestLoop':
      // Microsoft throttles the token endpoint with AADSTS50196 and HTTP 400, not 429 [OBS, with
      // its text] (docs/graph.md §3.3). [GUESS] `error`: no recorded body shows it; a client must branch on error_codes.
      // The control API admits this fault on the token target only.
      if (surface !== 'identity') return 'continue';
      sendAadError(ctx, reply, {
        error: 'invalid_request',
        code: 50196,
        description:
          'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.',
      });
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
          // [GUESS] codes: Microsoft's own token-endpoint throttle is 50196 with HTTP 400 (the `requestLoop` fault);
          // a 429 here stands for a throttling front end, named after 90055 (TenantThrottlingError).
          {
            error: 'temporarily_unavailable',
            code: status === 429 ? 90055 : 90033,
            description:
              status === 429
                ? 'There are too many incoming requests. Please try again later.'
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
