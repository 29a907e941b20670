import type { Clock } from '../clock';
import { FunctionNotFoundError, ProviderError } from '../errors';

/** Consecutive failed polls tolerated once the scale call went through (a provider restart, a blip). */
const MAX_POLL_FAILURES = 3;
/**
 * ...and only once they span this long: polls are 25–100 ms apart, and a provider (or Kubernetes API
 * server) restart takes seconds, more on a busy node; giving up after three quick failures would fail
 * every held request of it. A provider that stays down still answers within the hold budget.
 */
const MIN_FAILING_MS = 15_000;

export interface FailureStreak {
  failed(err: unknown): void;
  reset(): void;
}

/**
 * Consecutive failures of one kind of provider call. `failed` rethrows the error once the streak is
 * the answer: at once for errors retrying cannot fix, else after MAX_POLL_FAILURES spanning MIN_FAILING_MS.
 */
export function failureStreak(clock: Clock): FailureStreak {
  let failures = 0;
  let since = 0;
  return {
    failed(err) {
      if (failures++ === 0) since = clock.now();
      const final = err instanceof FunctionNotFoundError || (err instanceof ProviderError && isFinalStatus(err.status));
      if (final || (failures >= MAX_POLL_FAILURES && clock.now() - since >= MIN_FAILING_MS)) throw err;
    },
    reset() {
      failures = 0;
    },
  };
}

/**
 * A 4xx will not change by retrying (an RBAC denial, a bad request), except a conflict (409: the
 * object changed under a precondition, e.g. the Deployment controller's status writes while a
 * function scales to zero) and throttling (429): those are retried at the next poll like a 5xx.
 */
function isFinalStatus(status: number | undefined): boolean {
  return status !== undefined && status < 500 && status !== 409 && status !== 429;
}
