/**
 * When to ask the provider again whether a waking function is ready. Pure: time and randomness are
 * arguments, so the schedule is tested exactly.
 *
 * Every schedule here keeps to one call budget: poll k after the scale call never goes out before
 * k × FIXED_POLL_MS, so at any moment a wake has made no more status calls than the OpenFaaS
 * gateway's fixed 100 ms polling would have. Under that budget the average gap cannot be shorter
 * than 100 ms; what a schedule can choose is *where* its calls go:
 * - without history, in the part of the start-up where scale-from-zero usually ends (PRIOR_WINDOW),
 *   paid for by not polling in the first half second, where it almost never ends;
 * - with a learned start-up time (mean and uncertainty from earlier wakes), in a window around the
 *   expected moment, at the gap the estimate's uncertainty asks for.
 * Both back off once the function is later than the window, so a very slow start costs few calls.
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

/** The reference the call budget is measured against: OpenFaaS's FunctionPollInterval. */
export const FIXED_POLL_MS = 100;
/**
 * Where a scale from zero usually becomes ready, for a function never seen before: Kubernetes with a
 * cached image takes 0.7–2 s, faasd and local processes a little less (shared/reference/peers.md §0).
 * The budget saved in the first 500 ms is spread over the window: a poll every 75 ms.
 */
export const PRIOR_WINDOW = { fromMs: 500, toMs: 2000 } as const;
/** Past this, a function still starting is an outlier: gaps grow towards maxMs. */
export const SLOW_START_MS = 30_000;
const SLOW_BACKOFF_EVERY_MS = 5_000;
export const BACKOFF_FACTOR = 1.5;
/**
 * ±10 %, but never more than ±`minMs`: spreads the polls of many functions woken at once, while a
 * long sleep towards a learned start-up time still lands inside its window.
 */
export const JITTER = 0.1;

/** Milliseconds to sleep before the next poll, never past the deadline (returns `remainingMs` then). */
export function nextPollDelayMs(input: PollInput): number {
  const delay = input.estimate === undefined ? prior(input) : learned(input, input.estimate);
  const span = Math.min(delay * JITTER, input.minMs);
  const jittered = delay + span * (2 * input.random - 1);
  const budget = (input.attempt + 1) * FIXED_POLL_MS - input.elapsedMs;
  return Math.max(0, Math.min(Math.round(Math.max(jittered, budget)), input.remainingMs));
}

function prior(input: PollInput): number {
  const { fromMs, toMs } = PRIOR_WINDOW;
  if (input.elapsedMs < fromMs) return fromMs - input.elapsedMs;
  if (input.elapsedMs < toMs) return Math.max(input.minMs, (toMs - fromMs) / (toMs / FIXED_POLL_MS));
  if (input.elapsedMs < SLOW_START_MS) return Math.max(input.minMs, FIXED_POLL_MS);
  const steps = Math.ceil((input.elapsedMs - SLOW_START_MS) / SLOW_BACKOFF_EVERY_MS);
  return Math.max(input.minMs, Math.min(input.maxMs, FIXED_POLL_MS * BACKOFF_FACTOR ** steps));
}

function learned(input: PollInput, estimate: StartupEstimate): number {
  const margin = Math.max(2 * estimate.devMs, 2 * input.minMs);
  const windowStart = estimate.meanMs - margin;
  const windowEnd = estimate.meanMs + margin;
  // Inside the window the gap follows the estimate's uncertainty (a vague estimate is crossed in a
  // few steps, a settled one polled at the minimum), but never denser than the calls the budget
  // still allows until the window's end, spread evenly: no cluster at its start and a gap at its end.
  const affordable = Math.max(1, Math.floor(windowEnd / FIXED_POLL_MS) - input.attempt);
  const spread = (windowEnd - Math.max(input.elapsedMs, windowStart)) / affordable;
  const step = Math.min(input.maxMs, Math.max(input.minMs, estimate.devMs / 4, spread));
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
