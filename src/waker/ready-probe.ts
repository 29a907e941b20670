import type { FunctionRef } from '../routing/function-ref';

/**
 * Probes a woken function through WAKER_READY_PROBE_URL until it answers 2xx: the provider's
 * "replicas ready" can come before the function accepts connections. One probe loop per function
 * and path (single flight); every loop is bounded by the deadline and stops when nobody waits.
 */
export interface ReadyProber {
  /**
   * Resolves once `fn` answered 2xx on `path`. Rejects with WakeTimeoutError at `deadline` (clock
   * ms), or with the signal's reason when `signal` aborts (this caller only: others keep waiting).
   */
  probe(fn: FunctionRef, path: string, deadline: number, signal: AbortSignal): Promise<void>;
  /** Stops every loop (shutdown). */
  close(): void;
}
