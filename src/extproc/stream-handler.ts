import { ClientGoneError, InvalidFunctionNameError, FunctionNotFoundError, toHttpAnswer, errorMessage, type RejectReason } from '../errors';
import type { ActivitySink } from '../idle/activity';
import type { Logger } from '../logging';
import { routeRequest, type RouterOptions } from '../routing/router';
import type { Waker } from '../waker/waker';
import { continueAfterHold, immediate, overrideTimeout } from './responses';
import { GrpcStatus, type ProcessCall } from './process-call';
import { CONTINUE_REQUEST_HEADERS, continueBytes, isRequestHead, type Incoming, type RequestHead } from './wire';

/**
 * How a request's headers were answered: not managed (`pass`), from the cache (`warm`), after a hold
 * that only needed a status call (`checked`), after a real wake (`woken`), or with an error.
 */
export type Decision = 'pass' | 'warm' | 'checked' | 'woken' | 'rejected';

/** Hooks for metrics; all optional. */
export interface StreamObserver {
  streamOpened?(): void;
  streamClosed?(): void;
  decision?(outcome: Decision, reason?: RejectReason): void;
}

export interface StreamHandlerDeps {
  readonly waker: Waker;
  readonly router: RouterOptions;
  readonly logger: Logger;
  /** The hold budget; the override sent to Envoy is this plus a margin so our own 504 wins. */
  readonly holdTimeoutMs: number;
  readonly overrideMarginMs: number;
  readonly observer?: StreamObserver;
  /** Idle scale-down: told about every request let through (see ActivitySink). */
  readonly activity?: ActivitySink;
}

/**
 * The ext_proc `Process` stream: translate, delegate, answer. Holds no rules of its own. Every
 * request_headers message gets exactly one answer, and a held stream always ends with an answer:
 * Envoy forwards a request whose stream closes silently.
 */
export function createStreamHandler(deps: StreamHandlerDeps): (call: ProcessCall) => void {
  const { waker, router, observer } = deps;
  // The same for every hold: encoded once.
  const override = overrideTimeout(deps.holdTimeoutMs + deps.overrideMarginMs);

  return (call: ProcessCall): void => {
    observer?.streamOpened?.();
    let hold: AbortController | undefined;
    let closed = false;
    // Envoy sends request_headers once per stream. A second one is a peer we do not trust: it
    // would take a second hold slot that only the stream's end could free.
    let sawHead = false;
    const gone = (): void => {
      if (closed) return;
      closed = true;
      hold?.abort(new ClientGoneError('stream closed'));
      observer?.streamClosed?.();
    };
    call.listen({
      gone,
      end: () => {
        gone();
        call.end();
      },
      data: (msg: Incoming) => onMessage(msg),
    });

    function onMessage(msg: Incoming): void {
      if (closed) return;
      if (!isRequestHead(msg)) {
        call.write(continueBytes(msg.phase));
        return;
      }
      if (sawHead) {
        deps.logger.warn(
          { event: 'stream.protocol_error', requestId: msg.requestId },
          'second request_headers on one stream: ending the stream',
        );
        call.fail(GrpcStatus.INVALID_ARGUMENT, 'request_headers sent twice on one stream');
        gone();
        return;
      }
      sawHead = true;
      const route = routeRequest(msg.path, router);
      if (route.kind === 'pass') {
        observer?.decision?.('pass');
        call.write(CONTINUE_REQUEST_HEADERS);
        return;
      }
      if (route.kind === 'invalid') {
        reject(call, new InvalidFunctionNameError(`invalid function segment in ${JSON.stringify(msg.path.slice(0, 200))}`), msg, undefined);
        return;
      }
      const fn = route.fn;
      const state = waker.lookup(fn);
      if (state === 'ready') {
        observer?.decision?.('warm');
        call.write(CONTINUE_REQUEST_HEADERS);
        return;
      }
      if (state === 'not-found') {
        reject(call, new FunctionNotFoundError(`${fn.key} unknown (cached)`), msg, fn.key);
        return;
      }
      // Before any provider call: a slow provider must never trip Envoy's message timer.
      call.write(override);
      const controller = new AbortController();
      hold = controller;
      waker.hold(fn, controller.signal, msg.requestId).then(
        (result) => {
          if (closed) return;
          observer?.decision?.(result.coldStart ? 'woken' : 'checked');
          deps.logger.debug({ event: 'request.released', requestId: msg.requestId, fn: fn.key, ...result }, 'held request released');
          call.write(continueAfterHold({ fn: fn.key, ...result }));
        },
        (err: unknown) => {
          if (closed || err instanceof ClientGoneError) return;
          reject(call, err, msg, fn.key);
        },
      );
    }
  };

  function reject(call: ProcessCall, err: unknown, msg: RequestHead, fn: string | undefined): void {
    const answer = toHttpAnswer(err);
    observer?.decision?.('rejected', answer.reason);
    const fields = { event: 'request.rejected', requestId: msg.requestId, fn, status: answer.status, err: errorMessage(err) };
    if (answer.status >= 500) deps.logger.warn(fields, 'request answered with an error');
    else deps.logger.debug(fields, 'request rejected');
    call.write(immediate(answer, fn));
  }
}
