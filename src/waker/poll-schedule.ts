/**
 * When to ask the provider again whether a waking function is ready. Pure: time and randomness are
 * arguments, so the schedule is tested exactly.
 *
 * Without history it backs off geometrically from `minMs` to `maxMs`. With a learned start-up time
 * (mean and deviation of earlier wakes of the same function) it sleeps through the part of the
 * start-up that is certainly not over, polls every `minMs` around the expected moment, and backs
 * off after that window. That finds readiness within about `minMs` while making fewer calls than
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
/** ±10 %: spreads the polls of many functions woken at once without blurring the dense window. */
export const JITTER = 0.1;

/** Milliseconds to sleep before the next poll, never past the deadline (returns `remainingMs` then). */
export function nextPollDelayMs(input: PollInput): number {
  const delay = input.estimate === undefined ? backoff(input.attempt, input) : learned(input, input.estimate);
  const jittered = delay * (1 - JITTER + 2 * JITTER * input.random);
  return Math.max(0, Math.min(Math.round(jittered), input.remainingMs));
}

function backoff(attempt: number, input: PollInput): number {
  return Math.min(input.maxMs, input.minMs * BACKOFF_FACTOR ** attempt);
}

function learned(input: PollInput, estimate: StartupEstimate): number {
  const margin = Math.max(2 * estimate.devMs, 2 * input.minMs);
  const windowStart = estimate.meanMs - margin;
  const windowEnd = estimate.meanMs + margin;
  if (input.elapsedMs < windowStart) return Math.max(input.minMs, windowStart - input.elapsedMs);
  if (input.elapsedMs <= windowEnd) return input.minMs;
  // Later than ever seen: back off from the dense rate by how far past the window we are.
  const overdue = (input.elapsedMs - windowEnd) / Math.max(input.minMs, margin);
  return Math.min(input.maxMs, input.minMs * BACKOFF_FACTOR ** Math.max(1, Math.ceil(overdue)));
}

/** Exponentially weighted update of a start-up estimate with one observed start-up time. */
export function learnStartup(previous: StartupEstimate | undefined, observedMs: number, weight = 0.3): StartupEstimate {
  if (previous === undefined) return { meanMs: observedMs, devMs: observedMs * 0.1 };
  const meanMs = previous.meanMs + weight * (observedMs - previous.meanMs);
  const devMs = previous.devMs + weight * (Math.abs(observedMs - previous.meanMs) - previous.devMs);
  return { meanMs, devMs };
}
