/**
 * When to ask the provider again whether a waking function is ready. Pure: time and randomness are
 * arguments, so the schedule is tested exactly.
 *
 * Without history it backs off geometrically from `minMs` to `maxMs`. With a learned start-up time
 * (mean and uncertainty from earlier wakes of the same function) it sleeps through the part of the
 * start-up that is certainly not over, polls densely around the expected moment, and backs off
 * after that window. That finds readiness within about `minMs` while making fewer calls than
 * fixed 100 ms polling (OpenFaaS's choice).
 */
export interface StartupEstimate {
  readonly meanMs: number;
  readonly devMs: number;
}

export interface PollInput {
  /** Polls already made since the scale call (0 before the first). */
  readonly attempt: number;
  /** Time since the scale call (or since the wake started when no scale was needed). */
  readonly elapsedMs: number;
  /** Time left before the wake deadline. */
  readonly remainingMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly estimate: StartupEstimate | undefined;
  /** Uniform in [0, 1). */
  readonly random: number;
}

export const BACKOFF_FACTOR = 1.5;
/**
 * ±10 %, but never more than ±`minMs`: spreads the polls of many functions woken at once, while a
 * long sleep towards a learned start-up time still lands inside its dense window.
 */
export const JITTER = 0.1;

/** Milliseconds to sleep before the next poll, never past the deadline (returns `remainingMs` then). */
export function nextPollDelayMs(input: PollInput): number {
  const delay = input.estimate === undefined ? backoff(input.attempt, input) : learned(input, input.estimate);
  const span = Math.min(delay * JITTER, input.minMs);
  const jittered = delay + span * (2 * input.random - 1);
  return Math.max(0, Math.min(Math.round(jittered), input.remainingMs));
}

function backoff(attempt: number, input: PollInput): number {
  return Math.min(input.maxMs, input.minMs * BACKOFF_FACTOR ** attempt);
}

function learned(input: PollInput, estimate: StartupEstimate): number {
  const margin = Math.max(2 * estimate.devMs, 2 * input.minMs);
  const windowStart = estimate.meanMs - margin;
  const windowEnd = estimate.meanMs + margin;
  // Inside the window the gap follows the estimate's uncertainty: a vague estimate (one earlier
  // wake) is crossed in a few steps, a settled one is polled at the minimum interval.
  const step = Math.min(input.maxMs, Math.max(input.minMs, estimate.devMs / 4));
  if (input.elapsedMs < windowStart) return Math.max(input.minMs, windowStart - input.elapsedMs);
  if (input.elapsedMs <= windowEnd) return step;
  // Later than ever seen: back off from the window's rate by how far past the window we are.
  const overdue = (input.elapsedMs - windowEnd) / Math.max(input.minMs, margin);
  return Math.min(input.maxMs, step * BACKOFF_FACTOR ** Math.max(1, Math.ceil(overdue)));
}

/**
 * Folds one observed start-up time into the estimate. `uncertaintyMs` is half the gap between the
 * last "not ready" and the "ready" poll: precise observations move the estimate more, so one vague
 * first observation does not keep later wakes polling a wide window.
 */
export function learnStartup(previous: StartupEstimate | undefined, observedMs: number, uncertaintyMs: number): StartupEstimate {
  const uncertainty = Math.max(1, uncertaintyMs);
  if (previous === undefined) return { meanMs: observedMs, devMs: uncertainty };
  const weight = Math.min(0.9, Math.max(0.3, previous.devMs / (previous.devMs + uncertainty)));
  const meanMs = previous.meanMs + weight * (observedMs - previous.meanMs);
  const devMs = Math.max(uncertainty, (1 - weight) * previous.devMs + weight * Math.abs(observedMs - meanMs));
  return { meanMs, devMs };
}
