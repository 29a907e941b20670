import type { Clock } from '../clock';
import { FunctionNotFoundError, WakeTimeoutError } from '../errors';
import type { Logger } from '../logging';
import type { FunctionPolicy } from '../policy/policy';
import type { ProviderClient } from '../provider/provider-client';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';
import { failureStreak } from './failure-streak';
import type { FunctionStatuses } from './function-statuses';
import type { NamespaceLists } from './namespace-lists';
import { nextPollDelayMs } from './poll-schedule';
import type { ReadinessCache } from './readiness-cache';
import type { ReadyProber } from './ready-probe';
import type { StartupEstimates } from './startup-estimates';
import type { WakeFlight, WakeFlights } from './wake-flights';
import type { WakeOutcome, WakerOptions } from './waker-types';

/** If the provider forgets the desired replicas during a wake, ask again at most this often. */
const RESCALE_AFTER_MS = 1000;

export interface WakeLoopDeps {
  readonly provider: ProviderClient;
  readonly cache: ReadinessCache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: WakerOptions;
  readonly random: () => number;
  /** Aborted on shutdown: every poll sleep ends. */
  readonly stopping: AbortSignal;
  readonly statuses: FunctionStatuses;
  readonly estimates: StartupEstimates;
  readonly lists: NamespaceLists;
  readonly flights: WakeFlights;
  readonly prober?: ReadyProber;
}

/** A function whose own hold is longer than the wake timeout gets a wake that long. */
export function wakeBudgetMs(options: WakerOptions, policy: FunctionPolicy | undefined): number {
  return Math.max(options.wakeTimeoutMs, policy?.holdTimeoutMs ?? 0);
}

/**
 * One wake: the status (or `initial`), a scale call if it has no replicas, then polls (or, with a
 * watching provider, reads on its events) until a replica is available, and the ready probe if one
 * applies. Resolves with what it found; rejects with WakeTimeoutError at the wake's deadline, the
 * provider's error once it is final (see failureStreak), or the stop reason.
 */
export async function runWake(deps: WakeLoopDeps, flight: WakeFlight, initial: FunctionStatus | undefined): Promise<WakeOutcome> {
  const { fn } = flight;
  const { clock } = deps;
  const startedAt = clock.now();
  let status = initial ?? (await deps.statuses.fetch(fn));
  // A function whose own hold is longer than the wake timeout gets a wake that long: its requests
  // would otherwise all end in wake_timeout before their budget.
  const deadline = startedAt + wakeBudgetMs(deps.options, deps.statuses.policyOf(fn.key));
  if (status.availableReplicas > 0) return ready(deps, fn, { coldStart: false, scaled: false, startupMs: 0 });
  let scaledAt: number | undefined;
  let lastScaleAt = -Infinity;
  // A failed provider call (poll or scale) is the wake's answer only once that kind of call has
  // failed for MIN_FAILING_MS; until then a restarting provider or API server costs nothing. Answers
  // that will not change by retrying (unknown function, a 4xx such as an RBAC denial) end it at once.
  const polls = failureStreak(clock);
  const scales = failureStreak(clock);
  const scale = async (replicas: number): Promise<void> => {
    try {
      await deps.provider.scale(fn, replicas);
      scales.reset();
    } catch (err) {
      scales.failed(err);
      return; // retried at the next poll that still sees zero replicas
    }
    lastScaleAt = clock.now();
    scaledAt ??= lastScaleAt;
    deps.logger.debug({ event: 'wake.scale', fn: fn.key, replicas }, 'scale requested');
  };
  if (status.replicas === 0) await scale(status.minScale);
  const estimate = scaledAt === undefined ? undefined : deps.estimates.estimateFor(fn.key);
  let lastNotReadyAt = clock.now();
  for (let attempt = 0; ; attempt++) {
    const now = clock.now();
    if (now >= deadline) throw new WakeTimeoutError(`${fn.key} not ready after ${Math.round(now - startedAt)} ms`);
    // A watching provider pushes readiness (onProviderChange): its reads are only a safety check.
    const live = deps.provider.events?.live() === true;
    const delay = live
      ? deps.options.pollMaxIntervalMs
      : nextPollDelayMs({
          attempt,
          elapsedMs: now - (scaledAt ?? startedAt),
          remainingMs: deadline - now,
          minMs: deps.options.pollMinIntervalMs,
          maxMs: deps.options.pollMaxIntervalMs,
          estimate,
          random: deps.random(),
        });
    await pollSleep(deps, flight, Math.max(1, delay));
    // While the watch is live, nothing to read unless it reported a change: no polls at all.
    if (live && !flight.changed && flight.pushed === undefined && deps.provider.events?.live() === true) continue;
    flight.changed = false;
    try {
      status = flight.pushed ?? (await pollStatus(deps, fn));
      flight.pushed = undefined;
      polls.reset();
    } catch (err) {
      polls.failed(err);
      continue;
    }
    const polledAt = clock.now();
    if (status.availableReplicas > 0) {
      // Readiness came somewhere between the last "not ready" and this poll: learn the middle, not
      // the moment we noticed, or every estimate would carry this wake's detection lag.
      if (scaledAt !== undefined)
        deps.estimates.remember(fn.key, (lastNotReadyAt + polledAt) / 2 - scaledAt, (polledAt - lastNotReadyAt) / 2);
      const probing = probeReady(deps, fn, deadline);
      if (probing !== undefined) await probing;
      return ready(deps, fn, { coldStart: true, scaled: scaledAt !== undefined, startupMs: clock.now() - (scaledAt ?? startedAt) });
    }
    lastNotReadyAt = polledAt;
    if (status.replicas === 0 && clock.now() - lastScaleAt >= RESCALE_AFTER_MS) await scale(status.minScale);
  }
}

function ready(deps: WakeLoopDeps, fn: FunctionRef, outcome: WakeOutcome): WakeOutcome {
  deps.cache.setReady(fn.key, deps.clock.now());
  return outcome;
}

/**
 * After a cold start the provider's "ready" can come before the function accepts connections: with
 * a ready path (the function's, or WAKER_READY_PROBE_PATH) and a prober, the wake is ready only once
 * the function answered it. Bounded by the wake's deadline; stops with the waker. An already running
 * function is not probed (it is serving).
 */
function probeReady(deps: WakeLoopDeps, fn: FunctionRef, deadline: number): Promise<void> | undefined {
  const { prober } = deps;
  if (prober === undefined) return undefined;
  const path = deps.statuses.policyOf(fn.key)?.readyPath ?? deps.options.readyProbePath;
  if (path === undefined) return undefined;
  return prober.probe(fn, path, deadline, deps.stopping);
}

/** Sleeps until the next poll, or less when a namespace list or a provider event says to look now. */
async function pollSleep(deps: WakeLoopDeps, flight: WakeFlight, ms: number): Promise<void> {
  if (flight.pushed !== undefined || flight.changed) return;
  const nudge = new AbortController();
  flight.nudge = nudge;
  try {
    await deps.clock.sleep(ms, AbortSignal.any([deps.stopping, nudge.signal]));
  } catch (err) {
    if (deps.stopping.aborted) throw err;
  } finally {
    flight.nudge = undefined;
  }
}

/** A readiness poll: through the namespace's list while several of its functions wake, else its own status call. */
function pollStatus(deps: WakeLoopDeps, fn: FunctionRef): Promise<FunctionStatus> {
  if (deps.provider.events?.live() === true || !deps.lists.useful(fn.namespace, deps.flights.waking(fn.namespace)))
    return deps.statuses.fetch(fn);
  return deps.lists.statusOf(fn).catch((err: unknown) => {
    if (err instanceof FunctionNotFoundError) {
      deps.cache.setNotFound(fn.key, deps.clock.now());
      throw err;
    }
    if (deps.stopping.aborted) throw err;
    // The list call failed (no such route, or trouble): this poll, and the namespace's next ones for a
    // while, go function by function instead; a list is an optimisation, never a new way to fail.
    return deps.statuses.fetch(fn);
  });
}
