/** Everything the benchmark started, stopped in reverse order: at the end of a scenario, on error,
 * and on SIGINT/SIGTERM (main.ts calls `closeAll`). */
export type Stopper = () => Promise<unknown>;

export interface Scope {
  /** Registers a stopper; the returned function runs it once and forgets it. */
  add(stop: Stopper): () => Promise<void>;
  /** Runs every registered stopper, newest first; errors are collected, not thrown midway. */
  closeAll(): Promise<void>;
}

export function createScope(): Scope {
  const stoppers: { stop: Stopper; done: boolean }[] = [];
  const runOne = async (entry: { stop: Stopper; done: boolean }): Promise<void> => {
    if (entry.done) return;
    entry.done = true;
    const i = stoppers.indexOf(entry);
    if (i >= 0) stoppers.splice(i, 1);
    await entry.stop();
  };
  return {
    add(stop) {
      const entry = { stop, done: false };
      stoppers.push(entry);
      return () => runOne(entry);
    },
    async closeAll() {
      const errors: unknown[] = [];
      for (const entry of [...stoppers].reverse()) {
        try {
          await runOne(entry);
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, 'some processes did not stop cleanly');
    },
  };
}
