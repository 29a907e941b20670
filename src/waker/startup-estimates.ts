import { trimOldest } from './bounded';
import { learnStartup, type StartupEstimate } from './poll-schedule';

/**
 * What the waker learned about start-up times: per function (bounded, oldest first out), and pooled
 * over every function this process has woken, the prior for a function with no history of its own
 * (functions of one cluster start alike). Memory only; a restart forgets it.
 */
export class StartupEstimates {
  private readonly learned = new Map<string, StartupEstimate>();
  private population: StartupEstimate | undefined;

  constructor(private readonly maxLearned: number) {}

  /** The function's own estimate, else the pooled one (undefined: nothing woken yet). */
  estimateFor(key: string): StartupEstimate | undefined {
    return this.learned.get(key) ?? this.population;
  }

  remember(key: string, startupMs: number, uncertaintyMs: number): void {
    const next = learnStartup(this.learned.get(key), startupMs, uncertaintyMs);
    // Pooled with the spread between functions as its uncertainty: a vague prior, polled widely.
    this.population = learnStartup(
      this.population,
      startupMs,
      Math.max(uncertaintyMs, Math.abs(startupMs - (this.population?.meanMs ?? startupMs))),
    );
    this.learned.delete(key);
    this.learned.set(key, next);
    trimOldest(this.learned, this.maxLearned);
  }
}
