import type { RejectReason } from '../errors';
import type { FunctionRef } from '../routing/function-ref';

/**
 * How one held request ended: released after a real wake (`woken`), released after only a status
 * call because the function was running (`checked`), its client left, or rejected (the reason).
 */
export type HoldResultLabel = 'woken' | 'checked' | 'client_gone' | RejectReason;

/** How one wake ended: the function had to start (`woken`), was already running, or the wake failed. */
export type WakeResultLabel = 'woken' | 'running' | RejectReason;

/** Hooks for metrics; every method is optional so the waker works without any observer. */
export interface WakerObserver {
  cacheLookup?(hit: boolean): void;
  heldChanged?(fn: FunctionRef, held: number): void;
  wakeFinished?(fn: FunctionRef, result: WakeResultLabel): void;
  holdFinished?(fn: FunctionRef, result: HoldResultLabel, waitedMs: number): void;
}
