/** Everything the benchmark started, stopped in reverse order: at the end of a scenario, on error,
 * and on SIGINT/SIGTERM (main.ts calls `closeAll`). */
export type Stopper = () => Promise<unknown>;

export interface Scope {
  /** Registers a stopper; the returned function runs it once and forgets it. */
  add(stop: Stopper): () => Promise<void>;
  /**
   * Runs every registered stopper, newest first; errors are collected, not thrown midway. Resolves only
   * once every stopper is done, those another call (a scenario's `finally` racing the Ctrl-C handler)
   * or a returned function started too: a slow stop (the control plane) is never cut short by exit.
   */
  closeAll(): Promise<void>;
}

interface Entry {
  readonly stop: Stopper;
  /** Set when the stopper starts: every later caller waits on the same run. */
  running: Promise<void> | null;
}

export function createScope(): Scope {
  const stoppers: Entry[] = [];
  const inFlight = new Set<Promise<void>>();
  const runOne = (entry: Entry): Promise<void> => {
    if (entry.running !== null) return entry.running;
    const i = stoppers.indexOf(entry);
    if (i >= 0) stoppers.splice(i, 1);
    const running = (async () => {
      await entry.stop();
    })();
    entry.running = running;
    inFlight.add(running);
    const forget = (): void => {
      inFlight.delete(running);
    };
    running.then(forget, forget);
    return running;
  };
  return {
    add(stop) {
      const entry: Entry = { stop, running: null };
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
      // Stops started elsewhere (their errors belong to whoever started them).
      await Promise.allSettled([...inFlight]);
      if (errors.length > 0) throw new AggregateError(errors, 'some processes did not stop cleanly');
    },
  };
}
