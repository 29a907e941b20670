import type { ProcessCall } from '../../src/extproc/process-call';
import { CONTINUE_REQUEST_HEADERS, isRequestHead } from '../../src/extproc/wire';

/**
 * A stand-in for the stream handler: answers CONTINUE at once, except for paths starting with
 * `/hold`, which it keeps until `releaseAll()` (like requests held for a cold start).
 */
export class HoldingProcessor {
  private readonly held = new Set<ProcessCall>();
  private waiter: { count: number; resolve: () => void } | undefined;
  /** Streams that reported `gone` while held (a held stream must not be dropped by the server). */
  goneWhileHeld = 0;

  readonly handler = (call: ProcessCall): void => {
    call.listen({
      data: (msg) => {
        if (!isRequestHead(msg) || !msg.path.startsWith('/hold')) return call.write(CONTINUE_REQUEST_HEADERS);
        this.held.add(call);
        if (this.waiter !== undefined && this.held.size >= this.waiter.count) this.waiter.resolve();
      },
      end: () => call.end(),
      gone: () => {
        if (this.held.delete(call)) this.goneWhileHeld += 1;
      },
    });
  };

  get heldCount(): number {
    return this.held.size;
  }

  /** Resolves once `count` streams are held in total. */
  untilHeld(count: number): Promise<void> {
    if (this.held.size >= count) return Promise.resolve();
    return new Promise((resolve) => (this.waiter = { count, resolve }));
  }

  /** Answers every held stream with CONTINUE (the stream handler's release after a wake). */
  releaseAll(): number {
    const calls = [...this.held];
    this.held.clear();
    for (const call of calls) call.write(CONTINUE_REQUEST_HEADERS);
    return calls.length;
  }
}
