import { setMaxListeners } from 'node:events';
import { ClientGoneError, ShuttingDownError, toError, toHttpAnswer } from '../errors';
import type { FunctionPolicy } from '../policy/policy';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';
import { FunctionStatuses } from './function-statuses';
import { HoldSlots } from './hold-slots';
import { NamespaceLists } from './namespace-lists';
import { onList, onProviderChange, type ProviderChangesDeps } from './provider-changes';
import { raceBudget } from './race-budget';
import { StartupEstimates } from './startup-estimates';
import { WaiterQueue } from './waiters';
import { WakeFlights, type WakeFlight } from './wake-flights';
import { logWakeFailure } from './wake-log';
import { runWake, wakeBudgetMs, type WakeLoopDeps } from './wake-loop';
import type { WakerObserver } from './waker-observer';
import type { Asleep, BeforeWake, CheckResult, HoldOptions, HoldResult, Lookup, WakeOutcome, WakerDeps, WakerOptions } from './waker-types';

export type { Asleep, BeforeWake, CheckResult, HoldOptions, HoldResult, Lookup, WakeOutcome, WakerDeps, WakerOptions } from './waker-types';

/**
 * Decides whether a function can take a request now, and if not wakes it (one wake per function,
 * however many requests wait) and holds each request until ready, its own deadline, or its client
 * going away. The parts: wake-loop.ts (one wake: scale, poll, probe), waiters.ts (the requests held
 * on a wake, and their release), provider-changes.ts (events and namespace lists), function-statuses.ts
 * (status calls and policies); this class holds the request slots and ties them together.
 */
export class Waker {
  private readonly flights: WakeFlights;
  private readonly statuses: FunctionStatuses;
  private readonly lists: NamespaceLists;
  private readonly slots: HoldSlots;
  /** Releases under way (sliced over a few loop turns): stop() finishes them. */
  private readonly releasing = new Set<WaiterQueue>();
  /** Set after the drain delay: new holds are refused (503) while held ones finish. */
  private refusing = false;
  /** Aborted on shutdown: every hold answers 503 at once, every wake stops polling. */
  private readonly stopping = new AbortController();
  /** Never aborted: the signal of pre-warm wakes, which have no client to lose. */
  private readonly noClient = new AbortController().signal;
  private readonly observer: WakerObserver;
  private readonly loop: WakeLoopDeps;

  constructor(
    private readonly options: WakerOptions,
    private readonly deps: WakerDeps,
  ) {
    // Every polling wake sleeps on this one signal: hundreds of listeners are expected, not a leak.
    setMaxListeners(0, this.stopping.signal);
    // Every pre-warm waiter listens on this one: as many as there are pre-warms waiting, by design.
    setMaxListeners(0, this.noClient);
    this.observer = deps.observer ?? {};
    this.slots = new HoldSlots(options.maxHeldPerFunction, options.maxHeldTotal, deps.clock, this.observer);
    this.statuses = new FunctionStatuses({
      provider: deps.provider,
      cache: deps.cache,
      clock: deps.clock,
      logger: deps.logger,
      maxLearned: options.maxLearned,
      maxHoldTimeoutMs: options.maxHoldTimeoutMs ?? Number.MAX_SAFE_INTEGER,
    });
    // Built before the lists it tells to forget a namespace: the lists' results go to `changes`.
    const flights = new WakeFlights((namespace) => this.lists.forget(namespace));
    this.flights = flights;
    const changes: ProviderChangesDeps = { flights, statuses: this.statuses, cache: deps.cache, clock: deps.clock };
    this.lists = new NamespaceLists({
      list: (namespace, signal) => deps.provider.listStatuses(namespace, signal),
      clock: deps.clock,
      stopping: this.stopping.signal,
      onList: (namespace, statuses) => onList(changes, namespace, statuses),
      minGapMs: options.pollMinIntervalMs,
    });
    this.loop = {
      provider: deps.provider,
      cache: deps.cache,
      clock: deps.clock,
      logger: deps.logger,
      options,
      random: deps.random ?? Math.random,
      stopping: this.stopping.signal,
      statuses: this.statuses,
      estimates: new StartupEstimates(options.maxLearned),
      lists: this.lists,
      flights,
      ...(deps.prober === undefined ? {} : { prober: deps.prober }),
    };
    deps.provider.events?.subscribe((key, status) => onProviderChange(changes, key, status));
  }

  /** The warm path: one cache lookup, no promise. Starts a background refresh when one is due. */
  lookup(fn: FunctionRef): Lookup {
    const now = this.deps.clock.now();
    const state = this.deps.cache.get(fn.key, now);
    this.observer.cacheLookup?.(state !== undefined);
    if (state === undefined) return 'miss';
    if (state.kind === 'not-found') return 'not-found';
    if (now >= state.refreshAtMs && !this.statuses.inFlight(fn.key)) {
      // One refresh per entry: if it fails, the entry just expires instead of retrying on every hit.
      state.refreshAtMs = state.expiresAtMs;
      this.statuses.refresh(fn);
    }
    return 'ready';
  }

  /**
   * Holds until `fn` is ready. Rejects with a WakeError: QueueFullError, HoldTimeoutError,
   * FunctionNotFoundError, ProviderError/ProviderUnavailableError, WakeTimeoutError,
   * ShuttingDownError, or ClientGoneError when `signal` aborts.
   */
  hold(fn: FunctionRef, signal: AbortSignal, requestId?: string, options: HoldOptions = {}): Promise<HoldResult> {
    const budgetMs = Math.max(0, options.budgetMs ?? this.options.holdTimeoutMs);
    return this.withSlot(fn, async () => {
      const started = this.deps.clock.now();
      const outcome = await this.waitForWake(fn, signal, budgetMs, requestId, options.status);
      return { coldStart: outcome.coldStart, waitedMs: this.deps.clock.now() - started };
    });
  }

  /**
   * Like `hold`, but reads the status first (one call, shared, never a scale; counted as held): a
   * running function is released at once; otherwise `beforeWake` sees its policy and either stops the
   * hold (`Asleep`: nothing woken) or sets the budget for the wake, which starts from that status.
   * `budgetMs` bounds the status call. Rejects like `hold`.
   */
  holdChecked(
    fn: FunctionRef,
    signal: AbortSignal,
    requestId: string | undefined,
    budgetMs: number,
    beforeWake: BeforeWake,
  ): Promise<HoldResult | Asleep> {
    return this.withSlot(fn, async () => {
      const started = this.deps.clock.now();
      const checked = await this.check(fn, signal, budgetMs);
      if (checked.running) return { coldStart: false, waitedMs: this.deps.clock.now() - started };
      const next = beforeWake(checked.policy);
      if (next === 'stop') return { asleep: checked, waitedMs: this.deps.clock.now() - started };
      const remainingMs = Math.max(0, next - (this.deps.clock.now() - started));
      const outcome = await this.waitForWake(fn, signal, remainingMs, requestId, checked.status);
      return { coldStart: outcome.coldStart, waitedMs: this.deps.clock.now() - started };
    });
  }

  /** A request slot around `work` (see HoldSlots); none once the waker stops or refuses new holds. */
  private withSlot<T extends { readonly waitedMs: number; readonly coldStart?: boolean }>(
    fn: FunctionRef,
    work: () => Promise<T>,
  ): Promise<T> {
    if (this.stopping.signal.aborted || this.refusing) return Promise.reject(new ShuttingDownError('shutting down'));
    return this.slots.run(fn, work);
  }

  /**
   * Pre-warm (admin wake, waiting page): joins (or starts) the function's wake without holding a
   * request slot. `status`: one just read by `check`, saving the wake's first status call.
   */
  wake(fn: FunctionRef, status?: FunctionStatus, requestId?: string): Promise<WakeOutcome> {
    return this.waitForWake(fn, this.noClient, wakeBudgetMs(this.options, this.policyOf(fn)), requestId, status);
  }

  /**
   * The function's policy as last seen (undefined: never seen, or long ago). Cold path only: a status
   * call, list or provider event refreshes it.
   */
  policyOf(fn: FunctionRef): FunctionPolicy | undefined {
    return this.statuses.policyOf(fn.key);
  }

  /**
   * One status call (shared with any in flight for `fn`), never a scale: is `fn` running, and what is
   * its policy? `running` is false while a wake of `fn` is under way (its end, not a status, says
   * ready: the ready probe may still run). A running function is cached ready. Rejects like `hold`:
   * FunctionNotFoundError, provider errors, HoldTimeoutError after `budgetMs`, ClientGoneError when
   * `signal` aborts, ShuttingDownError.
   */
  async check(fn: FunctionRef, signal: AbortSignal, budgetMs: number): Promise<CheckResult> {
    if (this.stopping.signal.aborted) throw new ShuttingDownError('shutting down');
    const waking = this.flights.has(fn.key);
    const known = waking ? this.policyOf(fn) : undefined;
    if (known !== undefined) return { running: false, status: undefined, policy: known };
    const status = await raceBudget(this.statuses.fetch(fn), signal, this.deps.clock, budgetMs, this.stopping.signal, fn.key);
    const running = !waking && !this.flights.has(fn.key) && status.availableReplicas > 0;
    if (running) this.deps.cache.setReady(fn.key, this.deps.clock.now());
    return { running, status, policy: this.policyOf(fn) ?? this.statuses.learn(fn.key, status) };
  }

  /** Refuses new holds (ShuttingDownError) but lets held requests finish: the start of a shutdown. */
  refuseNewHolds(): void {
    this.refusing = true;
  }

  /** Whether the provider has confirmed this function (bounds metric label cardinality). */
  isKnown(key: string): boolean {
    return this.statuses.isKnown(key);
  }

  /**
   * Answers every held request with ShuttingDownError and stops all wakes. A release under way
   * finishes at once instead: its function is ready, so those requests get their CONTINUE.
   */
  stop(): void {
    this.stopping.abort(new ShuttingDownError('shutting down'));
    const err = new ShuttingDownError('shutting down');
    for (const queue of [...this.releasing]) queue.stop(err);
    for (const flight of this.flights.values()) flight.waiters.stop(err);
  }

  get heldTotal(): number {
    return this.slots.totalHeld;
  }

  /** Held requests per function key, live and without a copy (the idle scaler reads one key at a time). */
  heldCounts(): ReadonlyMap<string, number> {
    return this.slots.counts();
  }

  /** Held requests per function key (for the held gauge). */
  snapshotHeld(): IterableIterator<[string, number]> {
    return this.slots.counts().entries();
  }

  snapshot(): { held: Record<string, number>; wakes: { fn: string; sinceMs: number; waiters: number }[] } {
    const now = this.deps.clock.now();
    return {
      held: Object.fromEntries(this.slots.counts()),
      wakes: [...this.flights.values()].map((w) => ({ fn: w.fn.key, sinceMs: Math.round(now - w.startedAtMs), waiters: w.waiters.size })),
    };
  }

  private waitForWake(
    fn: FunctionRef,
    signal: AbortSignal,
    budgetMs: number,
    requestId?: string,
    status?: FunctionStatus,
  ): Promise<WakeOutcome> {
    // Checked before joining or starting a wake: a gone client or a stopped waker costs no provider call.
    if (this.stopping.signal.aborted) return Promise.reject(new ShuttingDownError('shutting down'));
    if (signal.aborted) return Promise.reject(new ClientGoneError(`client went away before ${fn.key} was woken`));
    const flight = this.flights.get(fn.key) ?? this.startWake(fn, requestId, status);
    return flight.waiters.add(signal, budgetMs);
  }

  private startWake(fn: FunctionRef, requestId: string | undefined, initial: FunctionStatus | undefined): WakeFlight {
    const { clock } = this.deps;
    const flight: WakeFlight = {
      fn,
      startedAtMs: clock.now(),
      waiters: new WaiterQueue(clock, fn.key),
      pushed: undefined,
      changed: false,
      nudge: undefined,
    };
    this.flights.add(flight);
    // The request that started the wake names it in every wake line, so logs can be joined.
    const log = this.deps.logger.child(requestId === undefined ? { fn: fn.key } : { fn: fn.key, requestId });
    log.info({ event: 'wake.start' }, 'waking function');
    runWake(this.loop, flight, initial).then(
      (outcome) => {
        this.flights.end(flight);
        const waitedMs = Math.round(clock.now() - flight.startedAtMs);
        const releaseStart = performance.now();
        this.releasing.add(flight.waiters);
        flight.waiters.releaseAll(outcome, (released) => {
          this.releasing.delete(flight.waiters);
          // Logged once the last slice's continuations (the CONTINUE writes) have run: releaseMs is
          // our whole share of getting a burst out of the door.
          setImmediate(() => {
            const releaseMs = Math.round((performance.now() - releaseStart) * 100) / 100;
            log.info(
              { event: 'wake.ready', waitedMs, coldStart: outcome.coldStart, scaled: outcome.scaled, waiters: released, releaseMs },
              'function ready',
            );
          });
        });
        this.observer.wakeFinished?.(fn, outcome.coldStart ? 'woken' : 'running');
      },
      (err: unknown) => {
        this.flights.end(flight);
        this.observer.wakeFinished?.(fn, toHttpAnswer(err).reason);
        logWakeFailure(log, err, clock.now() - flight.startedAtMs);
        flight.waiters.rejectAll(toError(err));
      },
    );
    return flight;
  }
}
