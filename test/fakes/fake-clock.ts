import { abortReason, type Clock } from '../../src/clock';

interface Sleeper {
  readonly atMs: number;
  readonly seq: number;
  readonly resolve: () => void;
  readonly detach: () => void;
}

/**
 * A Clock that only moves when a test says so. `advance(ms)` wakes the due sleepers one at a time in
 * time order (ties in the order they went to sleep), setting `now()` to each sleeper's due time and
 * letting every chained await run before the next one wakes.
 */
export class FakeClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private readonly sleepers = new Set<Sleeper>();

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.sleepers.delete(sleeper);
        reject(abortReason(signal));
      };
      const sleeper: Sleeper = {
        atMs: this.nowMs + Math.max(0, ms),
        seq: this.seq++,
        resolve,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      this.sleepers.add(sleeper);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sleepers not yet due or cancelled. */
  get pendingSleepers(): number {
    return this.sleepers.size;
  }

  /** Moves time forward by `ms`, waking due sleepers in order and flushing between them. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.nowMs + ms);
  }

  async advanceTo(targetMs: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      const next = this.nextDue(targetMs);
      if (next === undefined) break;
      this.sleepers.delete(next);
      next.detach();
      this.nowMs = Math.max(this.nowMs, next.atMs);
      next.resolve();
      await flushMicrotasks();
    }
    this.nowMs = Math.max(this.nowMs, targetMs);
    await flushMicrotasks();
  }

  /** Lets pending promise chains run without moving time. */
  flush(): Promise<void> {
    return flushMicrotasks();
  }

  private nextDue(targetMs: number): Sleeper | undefined {
    let best: Sleeper | undefined;
    for (const s of this.sleepers) {
      if (s.atMs > targetMs) continue;
      if (best === undefined || s.atMs < best.atMs || (s.atMs === best.atMs && s.seq < best.seq)) best = s;
    }
    return best;
  }
}

/** A few microtask turns, then a macrotask turn: by then every chain of resolved awaits has run. */
export async function flushMicrotasks(): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
