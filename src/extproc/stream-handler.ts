import type { Clock } from '../clock';
import {
  ClientGoneError,
  errorMessage,
  FunctionNotFoundError,
  InvalidFunctionNameError,
  NoWakePathError,
  toHttpAnswer,
  type RejectReason,
} from '../errors';
import type { ActivitySink, ActivityStart } from '../idle/activity';
import type { Logger } from '../logging';
import { coldAction, type ColdAction } from '../policy/cold-action';
import type { FunctionPolicy } from '../policy/policy';
import type { FunctionRef } from '../routing/function-ref';
import { functionPathOf, routeRequest, type RouterOptions } from '../routing/router';
import { isBrowserNavigation } from '../waiting-page/browser';
import type { WaitingPage } from '../waiting-page/waiting-page';
import type { CheckResult, HoldResult, Waker } from '../waker/waker';
import { createAnswerCache, type AnswerCache } from './answer-cache';
import { immediate, waitingPageResponse } from './responses';
import { GrpcStatus, type ProcessCall, type ProcessCallHandlers } from './process-call';
import {
  CONTINUE_REQUEST_HEADERS,
  CONTINUE_REQUEST_HEADERS_TRACKED,
  continueBytes,
  isRequestHead,
  requestHints,
  type Incoming,
  type RequestHead,
} from './wire';

/**
 * How a request's headers were answered: not managed (`pass`), from the cache (`warm`), after a hold
 * that only needed a status call (`checked`), after a real wake (`woken`), or with an error (the
 * waiting page counts as `rejected` with reason `waiting_page`: the client did not reach the function).
 */
export type Decision = 'pass' | 'warm' | 'checked' | 'woken' | 'rejected';

/** Hooks for metrics; all optional. */
export interface StreamObserver {
  streamOpened?(): void;
  streamClosed?(): void;
  decision?(outcome: Decision, reason?: RejectReason): void;
}

export interface WaitingPageOptions {
  readonly page: WaitingPage;
  /** WAKER_WAITING_PAGE: for functions whose policy says nothing. */
  readonly onByDefault: boolean;
  /** `retry-after` and `refresh`, seconds. */
  readonly refreshSec: number;
}

export interface StreamHandlerDeps {
  readonly waker: Waker;
  readonly router: RouterOptions;
  readonly logger: Logger;
  /** The global hold budget; a function's `faas-waker/hold-timeout` replaces it once its policy is known. */
  readonly holdTimeoutMs: number;
  /** Envoy's timer gets this much more than the hold, so our own 504 wins. */
  readonly overrideMarginMs: number;
  readonly observer?: StreamObserver;
  /** Idle scale-down: told about every request let through (see ActivitySink). */
  readonly activity?: ActivitySink;
  /** Browsers get this page instead of a hold; absent: every request is held. */
  readonly waitingPage?: WaitingPageOptions;
  /** The hold budget's elapsed time (the override, activity confirmation) is measured on it. */
  readonly clock: Clock;
}

/** What every stream of one handler shares. */
interface Shared {
  readonly deps: StreamHandlerDeps;
  readonly answers: AnswerCache;
}

/**
 * The ext_proc `Process` stream: translate, delegate, answer. Holds no rules of its own (they are in
 * cold-action.ts, browser.ts and the waker). Every request_headers message gets exactly one answer,
 * and a held stream always ends with an answer: Envoy forwards a request whose stream closes silently.
 */
export function createStreamHandler(deps: StreamHandlerDeps): (call: ProcessCall) => void {
  const shared: Shared = { deps, answers: createAnswerCache(deps.overrideMarginMs) };
  shared.answers.override(deps.holdTimeoutMs);
  return (call: ProcessCall): void => {
    deps.observer?.streamOpened?.();
    call.listen(new ProcessStream(shared, call));
  };
}

/**
 * One stream's state and answers. A class, so a stream costs one object: its methods live on the
 * prototype instead of a dozen closures created per request (the warm path uses three of them).
 */
class ProcessStream implements ProcessCallHandlers {
  private hold: AbortController | undefined;
  private closed = false;
  /**
   * Envoy sends request_headers once per stream. A second one is a peer we do not trust: it would
   * take a second hold slot that only the stream's end could free.
   */
  private sawHead = false;
  /** The idle tracker's start for this request: ended exactly once, when the stream closes. */
  private tracking: ActivityStart | undefined;
  /**
   * The hold budget the override already sent covers (undefined: none sent). Envoy accepts one
   * override per message, so every later wait of this request stays within it.
   */
  private coveredMs: number | undefined;
  private arrivedAt = 0;

  constructor(
    private readonly shared: Shared,
    private readonly call: ProcessCall,
  ) {}

  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.hold?.abort(new ClientGoneError('stream closed'));
    this.tracking?.end();
    this.tracking = undefined;
    this.shared.deps.observer?.streamClosed?.();
  }

  end(): void {
    this.gone();
    this.call.end();
  }

  data(msg: Incoming): void {
    if (this.closed) return;
    const { deps } = this.shared;
    if (!isRequestHead(msg)) {
      this.call.write(continueBytes(msg.phase));
      return;
    }
    if (this.sawHead) {
      deps.logger.warn(
        { event: 'stream.protocol_error', requestId: msg.requestId },
        'second request_headers on one stream: ending the stream',
      );
      this.call.fail(GrpcStatus.INVALID_ARGUMENT, 'request_headers sent twice on one stream');
      this.gone();
      return;
    }
    this.sawHead = true;
    const route = routeRequest(msg.path, deps.router);
    if (route.kind === 'pass') {
      deps.observer?.decision?.('pass');
      this.call.write(CONTINUE_REQUEST_HEADERS);
      return;
    }
    if (route.kind === 'invalid') {
      this.reject(new InvalidFunctionNameError(`invalid function segment in ${JSON.stringify(msg.path.slice(0, 200))}`), msg, undefined);
      return;
    }
    const fn = route.fn;
    const state = deps.waker.lookup(fn);
    if (state === 'ready') {
      this.letThrough(fn, msg, undefined);
      return;
    }
    if (state === 'not-found') {
      this.reject(new FunctionNotFoundError(`${fn.key} unknown (cached)`), msg, fn.key);
      return;
    }
    this.cold(fn, msg);
  }

  private budgetOf(policy: FunctionPolicy | undefined): number {
    return policy?.holdTimeoutMs ?? this.shared.deps.holdTimeoutMs;
  }

  /** Sends the override (once per request) sized for `budgetMs`; returns the budget it covers. */
  private coverHold(budgetMs: number): number {
    if (this.coveredMs !== undefined) return this.coveredMs;
    this.arrivedAt = this.shared.deps.clock.now();
    this.coveredMs = budgetMs;
    this.call.write(this.shared.answers.override(budgetMs));
    return budgetMs;
  }

  /**
   * A function not known ready. The override goes out first: a slow provider must never trip
   * Envoy's message timer. Its size comes from the policy when known; for a function never seen it
   * is the global hold: a shorter per-function hold still applies to this request (the budget is cut
   * once the status shows it), a longer one from the next request on (Envoy takes one override per
   * message, so this one cannot be extended).
   */
  private cold(fn: FunctionRef, msg: RequestHead): void {
    const { deps } = this.shared;
    // Hints are read now: the header span is a view of the received buffer, valid only in this
    // turn. Without a waiting page nobody is a browser (and the headers need no second walk).
    const browser = deps.waitingPage !== undefined && isBrowserNavigation(requestHints(msg));
    const request = { functionPath: functionPathOf(msg.path, deps.router), browser };
    const known = deps.waker.policyOf(fn);
    // The first override of this stream: it covers exactly the known budget (or the global one).
    const covered = this.coverHold(this.budgetOf(known));
    const decide = (policy: FunctionPolicy): ColdAction => coldAction(policy, request, deps.waitingPage?.onByDefault ?? false);
    if (known !== undefined && decide(known) === 'hold') {
      this.holdFor(fn, msg, covered);
      return;
    }
    // Policy unknown, or a decision that depends on whether it runs: a status call first (counted
    // as held), and a wake only if the policy says this request may cause one.
    this.holdOn(
      fn,
      msg,
      (signal, spentMs) =>
        deps.waker.holdChecked(fn, signal, msg.requestId, covered - spentMs, (policy) =>
          decide(policy) === 'hold' ? Math.min(this.budgetOf(policy), covered) - spentMs : 'stop',
        ),
      (result, spentMs) => {
        if (!('asleep' in result)) {
          this.letThrough(fn, msg, { coldStart: result.coldStart, waitedMs: result.waitedMs + spentMs });
          return;
        }
        // Asleep is the answer to the same policy the decision above was made on.
        if (decide(result.asleep.policy) === 'no-wake') {
          this.reject(new NoWakePathError(`${fn.key} is asleep and ${request.functionPath} does not wake it`), msg, fn.key);
        } else if (deps.waitingPage !== undefined) {
          this.serveWaitingPage(fn, msg, result.asleep, deps.waitingPage);
        }
      },
    );
  }

  /**
   * Holds the request on `wait` (given the abort signal and the time already spent since it arrived:
   * override, activity confirmation) and hands its result to `then` unless the stream closed first.
   * Durations only cross to the waker (its clock may not be ours).
   */
  private holdOn<R>(
    fn: FunctionRef,
    msg: RequestHead,
    wait: (signal: AbortSignal, spentMs: number) => Promise<R>,
    then: (result: R, spentMs: number) => void,
  ): void {
    const controller = new AbortController();
    this.hold = controller;
    const spentMs = Math.max(0, this.shared.deps.clock.now() - this.arrivedAt);
    wait(controller.signal, spentMs).then(
      (result) => {
        this.settled(controller);
        if (!this.closed) then(result, spentMs);
      },
      (err: unknown) => (this.settled(controller), this.failed(err, msg, fn)),
    );
  }

  /** The hold is over: a stream closing later has nothing to abort (saves an error and an event per stream). */
  private settled(controller: AbortController): void {
    if (this.hold === controller) this.hold = undefined;
  }

  private serveWaitingPage(fn: FunctionRef, msg: RequestHead, checked: CheckResult, options: WaitingPageOptions): void {
    const { deps } = this.shared;
    // The same single-flight wake a held request joins; nobody waits on it here, so a failure is
    // only logged (the waker logs wake.failed; the browser's next refresh sees the outcome).
    deps.waker.wake(fn, checked.status, msg.requestId).then(
      () => undefined,
      (err: unknown) =>
        deps.logger.debug({ event: 'waiting_page.wake_failed', fn: fn.key, err: errorMessage(err) }, 'background wake failed'),
    );
    deps.observer?.decision?.('rejected', 'waiting_page');
    deps.logger.debug({ event: 'request.waiting_page', requestId: msg.requestId, fn: fn.key }, 'browser got the waiting page');
    this.call.write(waitingPageResponse(options.page.render(fn), fn.key, options.refreshSec));
  }

  private holdFor(fn: FunctionRef, msg: RequestHead, budgetMs: number): void {
    const { deps } = this.shared;
    this.holdOn(
      fn,
      msg,
      (signal, spentMs) => deps.waker.hold(fn, signal, msg.requestId, { budgetMs: Math.max(0, budgetMs - spentMs) }),
      (result, spentMs) => {
        // Checked first: at info level the fields object alone was a measurable share of a release.
        if (deps.logger.isLevelEnabled('debug'))
          deps.logger.debug({ event: 'request.released', requestId: msg.requestId, fn: fn.key, ...result }, 'held request released');
        this.letThrough(fn, msg, { coldStart: result.coldStart, waitedMs: result.waitedMs + spentMs });
      },
    );
  }

  /**
   * CONTINUE (warm when `held` is undefined). With idle tracking the answer asks Envoy for the
   * response trailers, and a start that must be confirmed first (a scale-down may be under way)
   * waits for it: confirmed, the request goes on; refused (it went to zero first), it is a cold request.
   */
  private letThrough(fn: FunctionRef, msg: RequestHead, held: HoldResult | undefined): void {
    const { deps } = this.shared;
    const start = deps.activity?.started(fn);
    if (start === undefined) {
      this.answerContinue(fn, held, false);
      return;
    }
    this.tracking = start;
    if (start.confirmed === undefined) {
      this.answerContinue(fn, held, true);
      return;
    }
    // One API write, but it can be slow: the override first, so Envoy's timer cannot fire meanwhile.
    this.coverHold(this.budgetOf(deps.waker.policyOf(fn)));
    start.confirmed.then(
      (ok) => this.confirmedThen(fn, msg, held, start, ok),
      (err: unknown) => {
        deps.logger.warn({ event: 'activity.confirm_failed', fn: fn.key, err: errorMessage(err) }, 'activity not recorded: holding');
        this.confirmedThen(fn, msg, held, start, false);
      },
    );
  }

  private confirmedThen(fn: FunctionRef, msg: RequestHead, held: HoldResult | undefined, start: ActivityStart, ok: boolean): void {
    if (this.closed) return;
    if (ok) {
      this.answerContinue(fn, held, true);
      return;
    }
    // This start let nothing through: ended now, and the request waits for the wake like a cold one.
    start.end();
    if (this.tracking === start) this.tracking = undefined;
    // The policy may have changed since the override went out: never more than either.
    const budget = this.budgetOf(this.shared.deps.waker.policyOf(fn));
    this.holdFor(fn, msg, Math.min(budget, this.coverHold(budget)));
  }

  private answerContinue(fn: FunctionRef, held: HoldResult | undefined, tracked: boolean): void {
    const { observer } = this.shared.deps;
    if (held === undefined) {
      observer?.decision?.('warm');
      this.call.write(tracked ? CONTINUE_REQUEST_HEADERS_TRACKED : CONTINUE_REQUEST_HEADERS);
      return;
    }
    observer?.decision?.(held.coldStart ? 'woken' : 'checked');
    this.call.write(this.shared.answers.held(fn.key, held.coldStart, tracked).encode(held.waitedMs));
  }

  private failed(err: unknown, msg: RequestHead, fn: FunctionRef): void {
    if (this.closed || err instanceof ClientGoneError) return;
    this.reject(err, msg, fn.key);
  }

  private reject(err: unknown, msg: RequestHead, fn: string | undefined): void {
    const { deps } = this.shared;
    const answer = toHttpAnswer(err);
    deps.observer?.decision?.('rejected', answer.reason);
    const fields = { event: 'request.rejected', requestId: msg.requestId, fn, status: answer.status, err: errorMessage(err) };
    if (answer.status >= 500 && !(err instanceof NoWakePathError)) deps.logger.warn(fields, 'request answered with an error');
    else deps.logger.debug(fields, 'request rejected');
    this.call.write(immediate(answer, fn));
  }
}
