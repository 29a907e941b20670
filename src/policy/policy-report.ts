import { trimOldest } from '../waker/bounded';
import type { Logger } from '../logging';
import type { PolicyProblem } from './policy-parse';

/**
 * Logs each bad policy value once per function (per distinct value): statuses are read on every
 * wake and refresh, and the same bad annotation must not fill the log. Bounded: past `max`
 * remembered values the oldest is forgotten (and may be logged again, much later).
 */
export class PolicyReporter {
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly max: number,
  ) {}

  /** The `onInvalid` callback for `policyFrom` when reading `fnKey`'s status. */
  forFunction(fnKey: string): (problem: PolicyProblem) => void {
    return (problem) => {
      const id = `${fnKey}\u0000${problem.key}\u0000${problem.value}`;
      if (this.seen.has(id)) return;
      this.seen.add(id);
      trimOldest(this.seen, this.max);
      this.logger.warn(
        { event: 'policy.invalid', fn: fnKey, key: problem.key, value: problem.value, problem: problem.problem },
        'ignoring an invalid per-function setting',
      );
    };
  }
}
