import type { FunctionRef } from '../routing/function-ref';

/**
 * What the stream handler tells the idle tracker about each request it lets through (warm or
 * after a hold). Absent when idle scale-down is off or the provider cannot scale to zero.
 */
export interface ActivitySink {
  /**
   * Called once per request for `fn`, just before it is answered CONTINUE. `undefined`: the
   * function is not a scale-to-zero candidate, answer as usual. Otherwise the request is tracked:
   * answer with a CONTINUE that asks Envoy for the response trailers (so the ext_proc stream stays
   * open until the request is over) and call `end()` once when the stream closes, for any reason.
   */
  started(fn: FunctionRef): ActivityStart | undefined;
}

export interface ActivityStart {
  /** The request is over (its ext_proc stream closed). Idempotent. */
  end(): void;
  /**
   * Present when a scale-down of `fn` may be under way: the activity must be recorded with the API
   * server before the request is let through. Resolves `true` when it was (answer CONTINUE), `false`
   * when the function went to zero first (hold the request and wake the function, as a cold one).
   */
  readonly confirmed?: Promise<boolean>;
}
