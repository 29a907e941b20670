import { createLogger } from '../../src/logging';
import { functionRef, type FunctionRef } from '../../src/routing/function-ref';
import { createReadinessCache, type ReadinessCache } from '../../src/waker/readiness-cache';
import { Waker, type WakerOptions } from '../../src/waker/waker';
import { FakeClock } from './fake-clock';
import { FakeProvider } from './fake-provider';

export const HELLO: FunctionRef = functionRef('hello', 'openfaas-fn');
export const OTHER: FunctionRef = functionRef('other', 'openfaas-fn');

/** Fake time starts here, so tests catch absolute-vs-relative mix-ups. */
export const T0 = 1_000_000;

/**
 * Poll times after the scale call with no history, min 25 ms, max 1000 ms and random = 0.5 (no
 * jitter): nothing in the first 500 ms, every 75 ms over the prior window until the call budget
 * (poll k no earlier than k x 100 ms) catches up at 1700 ms, then every 100 ms.
 */
export const POLL_TIMES = [
  500, 575, 650, 725, 800, 875, 950, 1025, 1100, 1175, 1250, 1325, 1400, 1475, 1550, 1625, 1700, 1800, 1900, 2000, 2100, 2200, 2300, 2400,
  2500,
] as const;

export const WAKER_OPTIONS: WakerOptions = {
  holdTimeoutMs: 10_000,
  wakeTimeoutMs: 20_000,
  maxHeldPerFunction: 500,
  maxHeldTotal: 1000,
  pollMinIntervalMs: 25,
  pollMaxIntervalMs: 1000,
  maxLearned: 100,
};

export const READY_TTL_MS = 2000;
export const NOT_FOUND_TTL_MS = 1000;

export interface Harness {
  readonly clock: FakeClock;
  readonly provider: FakeProvider;
  readonly cache: ReadinessCache;
  readonly waker: Waker;
  /** Advances fake time to T0 + `ms`. */
  at(ms: number): Promise<void>;
  close(): void;
}

export function createHarness(options: Partial<WakerOptions> = {}, fake: { watchable?: boolean } = {}): Harness {
  const clock = new FakeClock(T0);
  const provider = new FakeProvider(clock);
  if (fake.watchable === true) provider.watchable();
  const cache = createReadinessCache({ readyTtlMs: READY_TTL_MS, notFoundTtlMs: NOT_FOUND_TTL_MS, maxKeys: 100 });
  const waker = new Waker({ ...WAKER_OPTIONS, ...options }, { provider, cache, clock, logger: createLogger('silent'), random: () => 0.5 });
  return {
    clock,
    provider,
    cache,
    waker,
    at: (ms) => clock.advanceTo(T0 + ms),
    close: () => {
      waker.stop();
      cache.close();
    },
  };
}

export interface Tracked<T> {
  readonly state: 'pending' | 'resolved' | 'rejected';
  readonly value: T | undefined;
  readonly error: unknown;
}

/** Observes a promise without awaiting it (and without leaving a rejection unhandled). */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const t: { state: Tracked<T>['state']; value: T | undefined; error: unknown } = { state: 'pending', value: undefined, error: undefined };
  promise.then(
    (value) => {
      t.state = 'resolved';
      t.value = value;
    },
    (error: unknown) => {
      t.state = 'rejected';
      t.error = error;
    },
  );
  return t;
}

export function never(): AbortSignal {
  return new AbortController().signal;
}
