import { ClientGoneError, InvalidFunctionNameError, FunctionNotFoundError, toHttpAnswer, errorMessage } from '../errors';
import type { Logger } from '../logging';
import { routeRequest, type RouterOptions } from '../routing/router';
import type { Waker } from '../waker/waker';
import { continueAfterHold, immediate, overrideTimeout } from './responses';
import type { ProcessCall } from './process-call';
import { CONTINUE_REQUEST_HEADERS, continueBytes, isRequestHead, type Incoming, type RequestHead } from './wire';

export type Decision = 'pass' | 'warm' | 'cold' | 'rejected';

/** Hooks for metrics; all optional. */
export interface StreamObserver {
  streamOpened?(): void;
  streamClosed?(): void;
  decision?(outcome: Decision, status?: number): void;
}

export interface StreamHandlerDeps {
  readonly waker: Waker;
  readonly router: RouterOptions;
  readonly logger: Logger;
  /** The hold budget; the override sent to Envoy is this plus a margin so our own 504 wins. */
  readonly holdTimeoutMs: number;
  readonly overrideMarginMs: number;
  readonly observer?: StreamObserver;
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
      if (!isRequestHead(msg)) {
        call.write(continueBytes(msg.phase));
        return;
      }
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
          observer?.decision?.('cold');
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
    observer?.decision?.('rejected', answer.status);
    const fields = { event: 'request.rejected', requestId: msg.requestId, fn, status: answer.status, err: errorMessage(err) };
    if (answer.status >= 500) deps.logger.warn(fields, 'request answered with an error');
    else deps.logger.debug(fields, 'request rejected');
    call.write(immediate(answer, fn));
  }
}
