import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock';
import {
  ClientGoneError,
  errorMessage,
  FunctionNotFoundError,
  HoldTimeoutError,
  ProviderError,
  QueueFullError,
  ShuttingDownError,
  toHttpAnswer,
  WakeError,
  WakeTimeoutError,
} from '../errors';
import type { Logger } from '../logging';
import type { ProviderClient } from '../provider/provider-client';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';
import { HoldLimiter } from './hold-limiter';
import { NamespaceLists } from './namespace-lists';
import { learnStartup, nextPollDelayMs, type StartupEstimate } from './poll-schedule';
import type { ReadinessCache } from './readiness-cache';
import { SingleFlight } from './single-flight';
import type { WakerObserver } from './waker-observer';

export interface WakerOptions {
  readonly holdTimeoutMs: number;
  readonly wakeTimeoutMs: number;
  readonly maxHeldPerFunction: number;
  readonly maxHeldTotal: number;
  readonly pollMinIntervalMs: number;
  readonly pollMaxIntervalMs: number;
  /** Bound on remembered start-up estimates (one per function that ever woke). */
  readonly maxLearned: number;
}

export interface WakerDeps {
  readonly provider: ProviderClient;
  readonly cache: ReadinessCache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
  readonly observer?: WakerObserver;
}

export type Lookup = 'ready' | 'not-found' | 'miss';

/** What one wake found. */
export interface WakeOutcome {
  /** The function had no ready replica when the wake began: requests really waited for a start. */
  readonly coldStart: boolean;
  /** This wake sent the scale call (another replica or an autoscaler may have sent it instead). */
  readonly scaled: boolean;
  /** From the scale call (or the wake's start) to readiness; 0 when it was already ready. */
  readonly startupMs: number;
}

export interface HoldResult {
  readonly coldStart: boolean;
  readonly waitedMs: number;
}

interface Waiter {
  resolve(outcome: WakeOutcome): void;
  reject(err: Error): void;
}

interface WakeFlight {
  readonly fn: FunctionRef;
  readonly startedAtMs: number;
  readonly waiters: Set<Waiter>;
  /** A ready status seen in a namespace list made for another wake: ends this wake's sleep early. */
  pushed: FunctionStatus | undefined;
  /** A watching provider saw this function change: read its status now (a read from its store). */
  changed: boolean;
  /** Aborted to end the current poll sleep when `pushed` or `changed` arrives. */
  nudge: AbortController | undefined;
}

/** Consecutive failed polls tolerated once the scale call went through (a provider restart, a blip). */
const MAX_POLL_FAILURES = 3;
/**
 * ...and only once they span this long: polls are 25–100 ms apart, and a provider (or Kubernetes API
 * server) restart takes seconds, more on a busy node; giving up after three quick failures would fail
 * every held request of it. A provider that stays down still answers within the hold budget.
 */
const MIN_FAILING_MS = 15_000;
/** If the provider forgets the desired replicas during a wake, ask again at most this often. */
const RESCALE_AFTER_MS = 1000;

/**
 * Decides whether a function can take a request now, and if not wakes it (one wake per function,
 * however many requests wait) and holds each request until ready, its own deadline, or its client
 * going away.
 */
export class Waker {
  private readonly wakes = new Map<string, WakeFlight>();
  private readonly statusCalls = new SingleFlight<FunctionStatus>();
  private readonly lists: NamespaceLists;
  /** Wakes in flight per namespace: two or more poll through namespace lists. */
  private readonly wakingPerNamespace = new Map<string, number>();
  private readonly limiter: HoldLimiter;
  private readonly learned = new Map<string, StartupEstimate>();
  /**
   * Start-up times of every function this process has woken, pooled: the prior for a function with
   * no history of its own (functions of one cluster start alike). Memory only; a restart forgets it.
   */
  private population: StartupEstimate | undefined;
  /** Functions the provider confirmed (bounded, oldest first out): only these get metric labels. */
  private readonly known = new Set<string>();
  /** Set after the drain delay: new holds are refused (503) while held ones finish. */
  private refusing = false;
  /** Aborted on shutdown: every hold answers 503 at once, every wake stops polling. */
  private readonly stopping = new AbortController();
  /** Never aborted: the signal of pre-warm wakes, which have no client to lose. */
  private readonly noClient = new AbortController().signal;
  private readonly random: () => number;
  private readonly observer: WakerObserver;

  constructor(
    private readonly options: WakerOptions,
    private readonly deps: WakerDeps,
  ) {
    this.limiter = new HoldLimiter(options.maxHeldPerFunction, options.maxHeldTotal);
    this.random = deps.random ?? Math.random;
    // Every polling wake sleeps on this one signal: hundreds of listeners are expected, not a leak.
    setMaxListeners(0, this.stopping.signal);
    this.observer = deps.observer ?? {};
    this.lists = new NamespaceLists({
      list: (namespace, signal) => deps.provider.listStatuses(namespace, signal),
      clock: deps.clock,
      stopping: this.stopping.signal,
      onList: (namespace, statuses) => this.onList(namespace, statuses),
      minGapMs: options.pollMinIntervalMs,
    });
    deps.provider.events?.subscribe((key, status) => this.onProviderChange(key, status));
  }

  /** The warm path: one cache lookup, no promise. Starts a background refresh when one is due. */
  lookup(fn: FunctionRef): Lookup {
    const now = this.deps.clock.now();
    const state = this.deps.cache.get(fn.key, now);
    this.observer.cacheLookup?.(state !== undefined);
    if (state === undefined) return 'miss';
    if (state.kind === 'not-found') return 'not-found';
    if (now >= state.refreshAtMs && !this.statusCalls.has(fn.key)) {
      // One refresh per entry: if it fails, the entry just expires instead of retrying on every hit.
      state.refreshAtMs = state.expiresAtMs;
      this.refresh(fn);
    }
    return 'ready';
  }

  /**
   * Holds until `fn` is ready. Rejects with a WakeError: QueueFullError, HoldTimeoutError,
   * FunctionNotFoundError, ProviderError/ProviderUnavailableError, WakeTimeoutError,
   * ShuttingDownError, or ClientGoneError when `signal` aborts.
   */
  async hold(fn: FunctionRef, signal: AbortSignal, requestId?: string): Promise<HoldResult> {
    if (this.stopping.signal.aborted || this.refusing) throw new ShuttingDownError('shutting down');
    if (!this.limiter.tryAcquire(fn.key)) throw new QueueFullError(`${this.limiter.held(fn.key)} requests already held for ${fn.key}`);
    this.observer.heldChanged?.(fn, this.limiter.held(fn.key));
    const started = this.deps.clock.now();
    try {
      const outcome = await this.waitForWake(fn, signal, this.options.holdTimeoutMs, requestId);
      const result = { coldStart: outcome.coldStart, waitedMs: this.deps.clock.now() - started };
      this.observer.holdFinished?.(fn, outcome.coldStart ? 'woken' : 'checked', result.waitedMs);
      return result;
    } catch (err) {
      // Every hold is observed, failures too: a histogram of successes alone hides the 504s.
      this.observer.holdFinished?.(
        fn,
        err instanceof ClientGoneError ? 'client_gone' : toHttpAnswer(err).reason,
        this.deps.clock.now() - started,
      );
      throw err;
    } finally {
      this.limiter.release(fn.key);
      this.observer.heldChanged?.(fn, this.limiter.held(fn.key));
    }
  }

  /** Pre-warm: joins (or starts) the function's wake without holding a request slot. */
  wake(fn: FunctionRef): Promise<WakeOutcome> {
    return this.waitForWake(fn, this.noClient, this.options.wakeTimeoutMs);
  }

  /** Refuses new holds (ShuttingDownError) but lets held requests finish: the start of a shutdown. */
  refuseNewHolds(): void {
    this.refusing = true;
  }

  /** Whether the provider has confirmed this function (bounds metric label cardinality). */
  isKnown(key: string): boolean {
    return this.known.has(key);
  }

  /** Answers every held request with ShuttingDownError and stops all wakes. */
  stop(): void {
    this.stopping.abort(new ShuttingDownError('shutting down'));
    const err = new ShuttingDownError('shutting down');
    for (const flight of this.wakes.values()) for (const waiter of [...flight.waiters]) waiter.reject(err);
  }

  get heldTotal(): number {
    return this.limiter.totalHeld;
  }

  /** Held requests per function key (for the held gauge). */
  snapshotHeld(): IterableIterator<[string, number]> {
    return this.limiter.entries();
  }

  snapshot(): { held: Record<string, number>; wakes: { fn: string; sinceMs: number; waiters: number }[] } {
    const now = this.deps.clock.now();
    return {
      held: Object.fromEntries(this.limiter.entries()),
      wakes: [...this.wakes.values()].map((w) => ({ fn: w.fn.key, sinceMs: Math.round(now - w.startedAtMs), waiters: w.waiters.size })),
    };
  }

  private waitForWake(fn: FunctionRef, signal: AbortSignal, budgetMs: number, requestId?: string): Promise<WakeOutcome> {
    // Checked before joining or starting a wake: a gone client or a stopped waker costs no provider call.
    if (this.stopping.signal.aborted) return Promise.reject(new ShuttingDownError('shutting down'));
    if (signal.aborted) return Promise.reject(new ClientGoneError(`client went away before ${fn.key} was woken`));
    const flight = this.wakes.get(fn.key) ?? this.startWake(fn, requestId);
    return new Promise<WakeOutcome>((resolve, reject) => {
      const timer = new AbortController();
      const finish = (): void => {
        flight.waiters.delete(waiter);
        timer.abort();
        signal.removeEventListener('abort', onGone);
      };
      const waiter: Waiter = {
        resolve: (outcome) => (finish(), resolve(outcome)),
        reject: (err) => (finish(), reject(err)),
      };
      const onGone = (): void => waiter.reject(new ClientGoneError(`client went away while ${fn.key} was waking`));
      flight.waiters.add(waiter);
      signal.addEventListener('abort', onGone, { once: true });
      this.deps.clock.sleep(budgetMs, timer.signal).then(
        () => waiter.reject(new HoldTimeoutError(`${fn.key} not ready after ${budgetMs} ms`)),
        () => undefined, // cancelled: the waiter already settled
      );
    });
  }

  private startWake(fn: FunctionRef, requestId: string | undefined): WakeFlight {
    const flight: WakeFlight = {
      fn,
      startedAtMs: this.deps.clock.now(),
      waiters: new Set(),
      pushed: undefined,
      changed: false,
      nudge: undefined,
    };
    this.wakes.set(fn.key, flight);
    this.wakingPerNamespace.set(fn.namespace, (this.wakingPerNamespace.get(fn.namespace) ?? 0) + 1);
    // The request that started the wake names it in every wake line, so logs can be joined.
    const log = this.deps.logger.child(requestId === undefined ? { fn: fn.key } : { fn: fn.key, requestId });
    log.info({ event: 'wake.start' }, 'waking function');
    this.runWake(flight).then(
      (outcome) => {
        this.endFlight(flight);
        const waiters = [...flight.waiters];
        // Released in one pass, in the same tick: nothing else runs between the first and the last.
        const releaseStart = performance.now();
        for (const waiter of waiters) waiter.resolve(outcome);
        this.observer.wakeFinished?.(fn, outcome.coldStart ? 'woken' : 'running');
        const waitedMs = Math.round(this.deps.clock.now() - flight.startedAtMs);
        // Logged once the continuations (the CONTINUE writes) have run: releaseMs is our whole share
        // of getting a burst out of the door.
        setImmediate(() => {
          const releaseMs = Math.round((performance.now() - releaseStart) * 100) / 100;
          log.info(
            { event: 'wake.ready', waitedMs, coldStart: outcome.coldStart, scaled: outcome.scaled, waiters: waiters.length, releaseMs },
            'function ready',
          );
        });
      },
      (err: unknown) => {
        this.endFlight(flight);
        this.observer.wakeFinished?.(fn, toHttpAnswer(err).reason);
        logWakeFailure(log, err, this.deps.clock.now() - flight.startedAtMs);
        const error = err instanceof Error ? err : new Error(errorMessage(err));
        for (const waiter of [...flight.waiters]) waiter.reject(error);
      },
    );
    return flight;
  }

  private endFlight(flight: WakeFlight): void {
    this.wakes.delete(flight.fn.key);
    const { namespace } = flight.fn;
    const waking = (this.wakingPerNamespace.get(namespace) ?? 1) - 1;
    if (waking > 0) {
      this.wakingPerNamespace.set(namespace, waking);
      return;
    }
    this.wakingPerNamespace.delete(namespace);
    this.lists.forget(namespace);
  }

  private async runWake(flight: WakeFlight): Promise<WakeOutcome> {
    const { fn } = flight;
    const { clock } = this.deps;
    const startedAt = clock.now();
    const deadline = startedAt + this.options.wakeTimeoutMs;
    let status = await this.fetchStatus(fn);
    if (status.availableReplicas > 0) return this.ready(fn, { coldStart: false, scaled: false, startupMs: 0 });
    let scaledAt: number | undefined;
    let lastScaleAt = -Infinity;
    // A failed provider call (poll or scale) is the wake's answer only once that kind of call has
    // failed for MIN_FAILING_MS; until then a restarting provider or API server costs nothing. Answers
    // that will not change by retrying (unknown function, a 4xx such as an RBAC denial) end it at once.
    const polls = failureStreak(clock);
    const scales = failureStreak(clock);
    const scale = async (replicas: number): Promise<void> => {
      try {
        await this.deps.provider.scale(fn, replicas);
        scales.reset();
      } catch (err) {
        scales.failed(err);
        return; // retried at the next poll that still sees zero replicas
      }
      lastScaleAt = clock.now();
      scaledAt ??= lastScaleAt;
      this.deps.logger.debug({ event: 'wake.scale', fn: fn.key, replicas }, 'scale requested');
    };
    if (status.replicas === 0) await scale(status.minScale);
    const estimate = scaledAt === undefined ? undefined : (this.learned.get(fn.key) ?? this.population);
    let lastNotReadyAt = clock.now();
    for (let attempt = 0; ; attempt++) {
      const now = clock.now();
      if (now >= deadline) throw new WakeTimeoutError(`${fn.key} not ready after ${Math.round(now - startedAt)} ms`);
      // A watching provider pushes readiness (onProviderChange): its reads are only a safety check.
      const live = this.deps.provider.events?.live() === true;
      const delay = live
        ? this.options.pollMaxIntervalMs
        : nextPollDelayMs({
            attempt,
            elapsedMs: now - (scaledAt ?? startedAt),
            remainingMs: deadline - now,
            minMs: this.options.pollMinIntervalMs,
            maxMs: this.options.pollMaxIntervalMs,
            estimate,
            random: this.random(),
          });
      await this.pollSleep(flight, Math.max(1, delay));
      // While the watch is live, nothing to read unless it reported a change: no polls at all.
      if (live && !flight.changed && flight.pushed === undefined && this.deps.provider.events?.live() === true) continue;
      flight.changed = false;
      try {
        status = flight.pushed ?? (await this.pollStatus(fn));
        flight.pushed = undefined;
        polls.reset();
      } catch (err) {
        polls.failed(err);
        continue;
      }
      const polledAt = clock.now();
      if (status.availableReplicas > 0) {
        const startupMs = polledAt - (scaledAt ?? startedAt);
        // Readiness came somewhere between the last "not ready" and this poll: learn the middle, not
        // the moment we noticed, or every estimate would carry this wake's detection lag.
        if (scaledAt !== undefined) this.remember(fn.key, (lastNotReadyAt + polledAt) / 2 - scaledAt, (polledAt - lastNotReadyAt) / 2);
        return this.ready(fn, { coldStart: true, scaled: scaledAt !== undefined, startupMs });
      }
      lastNotReadyAt = polledAt;
      if (status.replicas === 0 && clock.now() - lastScaleAt >= RESCALE_AFTER_MS) await scale(status.minScale);
    }
  }

  /** Sleeps until the next poll, or less when a namespace list showed the function ready. */
  private async pollSleep(flight: WakeFlight, ms: number): Promise<void> {
    if (flight.pushed !== undefined || flight.changed) return;
    const nudge = new AbortController();
    flight.nudge = nudge;
    try {
      await this.deps.clock.sleep(ms, AbortSignal.any([this.stopping.signal, nudge.signal]));
    } catch (err) {
      if (this.stopping.signal.aborted) throw err;
    } finally {
      flight.nudge = undefined;
    }
  }

  /** A readiness poll: through the namespace's list while several of its functions wake, else its own status call. */
  private pollStatus(fn: FunctionRef): Promise<FunctionStatus> {
    if (this.deps.provider.events?.live() === true || !this.lists.useful(fn.namespace, this.wakingPerNamespace.get(fn.namespace) ?? 0))
      return this.fetchStatus(fn);
    return this.lists.statusOf(fn).catch((err: unknown) => {
      if (err instanceof FunctionNotFoundError) {
        this.deps.cache.setNotFound(fn.key, this.deps.clock.now());
        throw err;
      }
      if (this.stopping.signal.aborted) throw err;
      // The list call failed (no such route, or trouble): this poll, and the namespace's next ones for a
      // while, go function by function instead; a list is an optimisation, never a new way to fail.
      return this.fetchStatus(fn);
    });
  }

  /**
   * A watching provider saw a function change. Its wake, if any, reads the new status at once (ready:
   * released; gone: not found; replicas back to 0: scaled again). A scale to zero (or a delete) made
   * elsewhere empties the cache entry at once, so the next request takes the cold path instead of
   * reaching a sleeping function.
   */
  private onProviderChange(key: string, status: FunctionStatus | undefined): void {
    const flight = this.wakes.get(key);
    if (flight !== undefined) {
      flight.changed = true;
      flight.nudge?.abort();
    }
    const cached = this.deps.cache.get(key, this.deps.clock.now());
    if (cached === undefined) return;
    // Stale either way: "ready" for a function that has none, "unknown" for one that now exists.
    const stale = cached.kind === 'ready' ? status === undefined || status.availableReplicas === 0 : status !== undefined;
    if (stale) this.deps.cache.delete(key);
  }

  /** Every list result releases the wakes of its namespace whose function it shows ready. */
  private onList(namespace: string, statuses: ReadonlyMap<string, FunctionStatus>): void {
    for (const flight of this.wakes.values()) {
      if (flight.fn.namespace !== namespace) continue;
      const status = statuses.get(flight.fn.name);
      if (status === undefined || status.availableReplicas === 0) continue;
      flight.pushed = status;
      flight.nudge?.abort();
    }
  }

  private ready(fn: FunctionRef, outcome: WakeOutcome): WakeOutcome {
    this.deps.cache.setReady(fn.key, this.deps.clock.now());
    return outcome;
  }

  /** One status call in flight per function, shared by wakes and background refreshes. */
  private fetchStatus(fn: FunctionRef): Promise<FunctionStatus> {
    return this.statusCalls.run(fn.key, async () => {
      try {
        const status = await this.deps.provider.getStatus(fn);
        this.markKnown(fn.key);
        return status;
      } catch (err) {
        if (err instanceof FunctionNotFoundError) this.deps.cache.setNotFound(fn.key, this.deps.clock.now());
        throw err;
      }
    });
  }

  /** Keeps a busy function's "ready" fresh, and notices a scale-to-zero made behind our back. */
  private refresh(fn: FunctionRef): void {
    this.fetchStatus(fn).then(
      (status) => {
        if (status.availableReplicas > 0) this.deps.cache.setReady(fn.key, this.deps.clock.now());
        else this.deps.cache.delete(fn.key);
      },
      (err: unknown) => {
        // Not cached: the entry simply expires at its TTL, and the next miss takes the cold path.
        const providerStatus = err instanceof ProviderError ? err.status : undefined;
        this.deps.logger.warn({ event: 'refresh.failed', fn: fn.key, providerStatus, err: errorMessage(err) }, 'background refresh failed');
      },
    );
  }

  private markKnown(key: string): void {
    if (this.known.has(key)) return;
    this.known.add(key);
    trimOldest(this.known, this.options.maxLearned);
  }

  private remember(key: string, startupMs: number, uncertaintyMs: number): void {
    const next = learnStartup(this.learned.get(key), startupMs, uncertaintyMs);
    // Pooled with the spread between functions as its uncertainty: a vague prior, polled widely.
    this.population = learnStartup(
      this.population,
      startupMs,
      Math.max(uncertaintyMs, Math.abs(startupMs - (this.population?.meanMs ?? startupMs))),
    );
    this.learned.delete(key);
    this.learned.set(key, next);
    trimOldest(this.learned, this.options.maxLearned);
  }
}

/**
 * Consecutive failures of one kind of provider call. `failed` rethrows the error once the streak is
 * the answer: at once for errors retrying cannot fix, else after MAX_POLL_FAILURES spanning MIN_FAILING_MS.
 */
function failureStreak(clock: Clock): { failed(err: unknown): void; reset(): void } {
  let failures = 0;
  let since = 0;
  return {
    failed(err) {
      if (failures++ === 0) since = clock.now();
      const final = err instanceof FunctionNotFoundError || (err instanceof ProviderError && err.status !== undefined && err.status < 500);
      if (final || (failures >= MAX_POLL_FAILURES && clock.now() - since >= MIN_FAILING_MS)) throw err;
    },
    reset() {
      failures = 0;
    },
  };
}

/** Insertion order is age: drops the oldest key once `max` is exceeded (bounded memory per function). */
function trimOldest(collection: Set<string> | Map<string, unknown>, max: number): void {
  if (collection.size <= max) return;
  const oldest = collection.keys().next();
  if (oldest.done !== true) collection.delete(oldest.value);
}

function logWakeFailure(log: Logger, err: unknown, waitedMs: number): void {
  const fields = {
    waitedMs: Math.round(waitedMs),
    code: err instanceof WakeError ? err.code : 'INTERNAL',
    ...(err instanceof ProviderError && err.status !== undefined ? { providerStatus: err.status } : {}),
    err: errorMessage(err),
  };
  if (err instanceof WakeTimeoutError) log.warn({ event: 'wake.timeout', ...fields }, 'function did not become ready');
  else if (err instanceof FunctionNotFoundError) log.info({ event: 'wake.failed', ...fields }, 'function unknown to the provider');
  else if (err instanceof ShuttingDownError) log.info({ event: 'wake.failed', ...fields }, 'wake stopped by shutdown');
  else log.error({ event: 'wake.failed', ...fields }, 'wake failed');
}
