import type { FunctionRef } from '../routing/function-ref';

/** Hooks for metrics; every method is optional so the waker works without any observer. */
export interface WakerObserver {
  cacheLookup?(hit: boolean): void;
  heldChanged?(fn: FunctionRef, held: number): void;
  wakeReady?(fn: FunctionRef, result: { coldStart: boolean; scaled: boolean; startupMs: number }): void;
  holdFinished?(fn: FunctionRef, result: { coldStart: boolean; waitedMs: number }): void;
}
