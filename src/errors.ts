/**
 * Every way a request can fail, and the one table that turns a failure into an HTTP answer.
 * Bodies are short and stable: they never echo provider text or credentials (detail goes to logs).
 */
export abstract class WakeError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidFunctionNameError extends WakeError {
  readonly code = 'INVALID_NAME';
}
export class FunctionNotFoundError extends WakeError {
  readonly code = 'NOT_FOUND';
}
export class QueueFullError extends WakeError {
  readonly code = 'QUEUE_FULL';
}
/** This request's hold budget ran out; the shared wake may still go on for later requests. */
export class HoldTimeoutError extends WakeError {
  readonly code = 'HOLD_TIMEOUT';
}
/** The shared wake itself gave up (the function never became ready within the wake timeout). */
export class WakeTimeoutError extends WakeError {
  readonly code = 'WAKE_TIMEOUT';
}
/** The provider answered, but with an error status or a body we could not understand. */
export class ProviderError extends WakeError {
  readonly code = 'PROVIDER_ERROR';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
/** The provider could not be reached at all (refused, reset, timed out). */
export class ProviderUnavailableError extends WakeError {
  readonly code = 'PROVIDER_UNAVAILABLE';
}
export class ShuttingDownError extends WakeError {
  readonly code = 'SHUTTING_DOWN';
}
/** The function sleeps and this path (one of its `faas-waker/no-wake-paths`) must not wake it. */
export class NoWakePathError extends WakeError {
  readonly code = 'NO_WAKE_PATH';
}
/** The client went away; nothing is sent back. */
export class ClientGoneError extends WakeError {
  readonly code = 'CLIENT_GONE';
}

/** Why a request was rejected: the bounded `reason` label of faas_waker_decisions_total. */
export type RejectReason =
  | 'invalid_name'
  | 'not_found'
  | 'queue_full'
  | 'hold_timeout'
  | 'wake_timeout'
  | 'provider_unavailable'
  | 'provider_error'
  | 'shutting_down'
  | 'no_wake_path'
  /** Not an error: a browser got the waiting page instead of the function's answer. */
  | 'waiting_page'
  | 'internal';

export interface HttpAnswer {
  status: number;
  reason: RejectReason;
  /** Plain-text body, ends with a newline. */
  body: string;
  /** Seconds, for the `retry-after` header, when retrying makes sense. */
  retryAfterSec?: number;
  /** Goes to Envoy's %RESPONSE_CODE_DETAILS%: no spaces. */
  details: string;
}

/** The only place that knows which status each failure gets (DESIGN.md §5). */
export function toHttpAnswer(err: unknown): HttpAnswer {
  if (err instanceof InvalidFunctionNameError) return answer(400, 'invalid_name', 'invalid function name', 'invalid_function_name');
  if (err instanceof FunctionNotFoundError) return answer(404, 'not_found', 'function not found', 'function_not_found');
  if (err instanceof QueueFullError) return answer(503, 'queue_full', 'too many requests waiting for this function', 'hold_queue_full', 1);
  if (err instanceof HoldTimeoutError) return answer(504, 'hold_timeout', 'function did not become ready in time', 'hold_timeout', 2);
  if (err instanceof WakeTimeoutError) return answer(504, 'wake_timeout', 'function did not become ready in time', 'wake_timeout', 5);
  if (err instanceof ProviderUnavailableError)
    return answer(503, 'provider_unavailable', 'function provider unavailable', 'provider_unavailable', 5);
  if (err instanceof ProviderError) return answer(502, 'provider_error', 'function provider error', 'provider_error');
  if (err instanceof NoWakePathError)
    return answer(503, 'no_wake_path', 'function is asleep; this path does not wake it', 'no_wake_path', 5);
  if (err instanceof ShuttingDownError) return answer(503, 'shutting_down', 'shutting down, retry', 'shutting_down', 1);
  return answer(500, 'internal', 'internal error', 'internal_error');
}

function answer(status: number, reason: RejectReason, text: string, details: string, retryAfterSec?: number): HttpAnswer {
  const body = `${text}\n`;
  const base = { status, reason, body, details: `faas_waker_${details}` };
  return retryAfterSec === undefined ? base : { ...base, retryAfterSec };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `err` itself if it is an Error, else an Error with its text (a rejection must carry an Error). */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}

/**
 * The first line of an error's message, for one-line log fields and config problems. Duck-typed:
 * errors from node:fs and node:tls may come from another realm (jest), failing instanceof.
 */
export function firstLine(err: unknown): string {
  const message = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
  return message.split('\n')[0] ?? '';
}
