import type { Clock } from '../clock';
import { ClientGoneError, QueueFullError, toHttpAnswer } from '../errors';
import type { FunctionRef } from '../routing/function-ref';
import { HoldLimiter } from './hold-limiter';
import type { WakerObserver } from './waker-observer';

/** Request slots: bounded per function and in total; every hold is observed (held gauge, outcome, wait). */
export class HoldSlots {
  private readonly limiter: HoldLimiter;

  constructor(
    maxPerFunction: number,
    maxTotal: number,
    private readonly clock: Clock,
    private readonly observer: WakerObserver,
  ) {
    this.limiter = new HoldLimiter(maxPerFunction, maxTotal);
  }

  /** Runs `work` in a slot of `fn`; rejects with QueueFullError when none is free, else like `work`. */
  async run<T extends { readonly waitedMs: number; readonly coldStart?: boolean }>(fn: FunctionRef, work: () => Promise<T>): Promise<T> {
    if (!this.limiter.tryAcquire(fn.key)) throw new QueueFullError(`${this.limiter.held(fn.key)} requests already held for ${fn.key}`);
    this.observer.heldChanged?.(fn, this.limiter.held(fn.key));
    const started = this.clock.now();
    try {
      const result = await work();
      // A stopped hold (no coldStart) was answered after a status call only: "checked".
      this.observer.holdFinished?.(fn, result.coldStart === true ? 'woken' : 'checked', result.waitedMs);
      return result;
    } catch (err) {
      // Every hold is observed, failures too: a histogram of successes alone hides the 504s.
      this.observer.holdFinished?.(
        fn,
        err instanceof ClientGoneError ? 'client_gone' : toHttpAnswer(err).reason,
        this.clock.now() - started,
      );
      throw err;
    } finally {
      this.limiter.release(fn.key);
      this.observer.heldChanged?.(fn, this.limiter.held(fn.key));
    }
  }

  get totalHeld(): number {
    return this.limiter.totalHeld;
  }

  /** Held requests per function key. */
  counts(): ReadonlyMap<string, number> {
    return this.limiter.counts();
  }
}
