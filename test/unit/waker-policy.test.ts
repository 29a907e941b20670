import { HoldTimeoutError, WakeTimeoutError } from '../../src/errors';
import { createLogger } from '../../src/logging';
import { NO_POLICY, POLICY_KEYS } from '../../src/policy/policy';
import type { FunctionRef } from '../../src/routing/function-ref';
import { createReadinessCache, type ReadinessCache } from '../../src/waker/readiness-cache';
import type { ReadyProber } from '../../src/waker/ready-probe';
import { Waker, type WakerOptions } from '../../src/waker/waker';
import { deferred, type Deferred } from '../fakes/deferred';
import { FakeClock } from '../fakes/fake-clock';
import { FakeProvider } from '../fakes/fake-provider';
import { HELLO, never, T0, track, WAKER_OPTIONS } from '../fakes/waker-harness';

/** A prober whose answers the test gives: each probe waits for `release`, or rejects at its deadline. */
class FakeProber implements ReadyProber {
  readonly probes: { fn: string; path: string; deadline: number }[] = [];
  gate: Deferred<void> = deferred<void>();
  constructor(private readonly clock: FakeClock) {}
  probe(fn: FunctionRef, path: string, deadline: number, signal: AbortSignal): Promise<void> {
    this.probes.push({ fn: fn.key, path, deadline });
    const timeout = this.clock.sleep(deadline - this.clock.now(), signal).then(() => {
      throw new WakeTimeoutError(`${fn.key} probe timed out`);
    });
    return Promise.race([this.gate.promise, timeout]);
  }
  close(): void {}
}

interface Rig {
  clock: FakeClock;
  provider: FakeProvider;
  cache: ReadinessCache;
  waker: Waker;
  prober: FakeProber;
  warnings: Record<string, unknown>[];
  at(ms: number): Promise<void>;
}

function rig(options: Partial<WakerOptions> = {}, withProber = false): Rig {
  const clock = new FakeClock(T0);
  const provider = new FakeProvider(clock);
  const cache = createReadinessCache({ readyTtlMs: 2000, notFoundTtlMs: 1000, maxKeys: 100 });
  const prober = new FakeProber(clock);
  const warnings: Record<string, unknown>[] = [];
  const logger = createLogger('silent');
  logger.warn = (fields: Record<string, unknown>) => void warnings.push(fields);
  const waker = new Waker(
    { ...WAKER_OPTIONS, maxHoldTimeoutMs: 119_000, ...options },
    { provider, cache, clock, logger, random: () => 0.5, ...(withProber ? { prober } : {}) },
  );
  rigs.push({ waker, cache });
  return { clock, provider, cache, waker, prober, warnings, at: (ms) => clock.advanceTo(T0 + ms) };
}
const rigs: { waker: Waker; cache: ReadinessCache }[] = [];
afterEach(() => {
  for (const r of rigs.splice(0)) {
    r.waker.stop();
    r.cache.close();
  }
});

describe('Waker: per-function policy', () => {
  test('unknown until a status is seen; then cached from it (labels and annotations)', async () => {
    const r = rig();
    r.provider.define(HELLO.key, {
      replicas: 1,
      labels: { [POLICY_KEYS.waitingPage]: 'off' },
      annotations: { [POLICY_KEYS.holdTimeout]: '3s' },
    });
    expect(r.waker.policyOf(HELLO)).toBeUndefined();
    const checked = track(r.waker.check(HELLO, never(), 10_000));
    await r.at(0);
    expect(checked.value).toMatchObject({ running: true, policy: { holdTimeoutMs: 3000, waitingPage: false } });
    expect(r.waker.policyOf(HELLO)).toEqual({ holdTimeoutMs: 3000, readyPath: undefined, waitingPage: false, noWakePaths: [] });
    expect(r.waker.lookup(HELLO)).toBe('ready');
  });

  test('check never scales: a sleeping function is reported asleep after one status call', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { annotations: { [POLICY_KEYS.noWakePaths]: '/healthz' } });
    const checked = track(r.waker.check(HELLO, never(), 10_000));
    await r.at(0);
    expect(checked.value).toMatchObject({ running: false, policy: { noWakePaths: ['/healthz'] } });
    expect([r.provider.statusCallCount(), r.provider.scaleCallCount()]).toEqual([1, 0]);
    expect(r.waker.lookup(HELLO)).toBe('miss');
  });

  test('check during a wake answers "not running" from the known policy, without a provider call', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 5000 });
    track(r.waker.wake(HELLO));
    await r.at(10);
    const calls = r.provider.statusCallCount();
    const checked = track(r.waker.check(HELLO, never(), 10_000));
    await r.at(11);
    expect(checked.value).toMatchObject({ running: false, policy: NO_POLICY });
    expect(r.provider.statusCallCount()).toBe(calls);
  });

  test('check is bounded by its budget', async () => {
    const r = rig();
    r.provider.define(HELLO.key);
    r.provider.latencyMs = 5000;
    const checked = track(r.waker.check(HELLO, never(), 300));
    await r.at(300);
    expect(checked.error).toBeInstanceOf(HoldTimeoutError);
  });

  test('a hold started with the status from check costs no second status call', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 100 });
    const checked = track(r.waker.check(HELLO, never(), 10_000));
    await r.at(0);
    const status = checked.value?.status;
    expect(status).toBeDefined();
    const held = track(r.waker.hold(HELLO, never(), 'rid', status === undefined ? {} : { status }));
    await r.at(0);
    expect([r.provider.statusCallCount(), r.provider.scaleCallCount()]).toEqual([1, 1]);
    await r.at(2000);
    expect(held.value?.coldStart).toBe(true);
  });

  test('a per-request budget shorter than the global hold ends that hold first', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: null });
    const short = track(r.waker.hold(HELLO, never(), undefined, { budgetMs: 500 }));
    const normal = track(r.waker.hold(HELLO, never()));
    await r.at(500);
    expect(short.error).toBeInstanceOf(HoldTimeoutError);
    expect(normal.state).toBe('pending');
    await r.at(WAKER_OPTIONS.holdTimeoutMs);
    expect(normal.error).toBeInstanceOf(HoldTimeoutError);
  });

  test('a function whose hold is longer than the wake timeout gets a wake that long', async () => {
    const r = rig({ holdTimeoutMs: 1000, wakeTimeoutMs: 2000 });
    r.provider.define(HELLO.key, { startupMs: 3000, annotations: { [POLICY_KEYS.holdTimeout]: '5s' } });
    await r.waker.check(HELLO, never(), 1000);
    const held = track(r.waker.hold(HELLO, never(), undefined, { budgetMs: 5000 }));
    await r.at(2500);
    expect(held.state).toBe('pending'); // the 2 s wake timeout did not end it
    await r.at(4000);
    expect(held.value?.coldStart).toBe(true);
  });

  test('a provider event refreshes the policy', async () => {
    const r = rig();
    r.provider.watchable();
    const watched = new Waker(
      { ...WAKER_OPTIONS, maxHoldTimeoutMs: 119_000 },
      { provider: r.provider, cache: r.cache, clock: r.clock, logger: createLogger('silent'), random: () => 0.5 },
    );
    rigs.push({ waker: watched, cache: r.cache });
    r.provider.define(HELLO.key, { replicas: 1 });
    await watched.check(HELLO, never(), 1000);
    expect(watched.policyOf(HELLO)).toBe(NO_POLICY);
    r.provider.annotate(HELLO.key, { [POLICY_KEYS.waitingPage]: 'off' });
    expect(watched.policyOf(HELLO)?.waitingPage).toBe(false);
  });

  test('an invalid value is logged once per function and value, and ignored', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { replicas: 1, annotations: { [POLICY_KEYS.holdTimeout]: 'soon' } });
    for (let i = 0; i < 3; i++) await r.waker.check(HELLO, never(), 1000);
    expect(r.provider.statusCallCount()).toBe(3);
    expect(r.warnings.filter((w) => w.event === 'policy.invalid')).toEqual([
      expect.objectContaining({ fn: HELLO.key, key: POLICY_KEYS.holdTimeout, value: 'soon' }),
    ]);
    expect(r.waker.policyOf(HELLO)).toBe(NO_POLICY);
    r.provider.annotate(HELLO.key, { [POLICY_KEYS.holdTimeout]: 'later' });
    await r.waker.check(HELLO, never(), 1000);
    expect(r.warnings.filter((w) => w.event === 'policy.invalid')).toHaveLength(2);
  });
});

describe('Waker: ready probe before release', () => {
  test('a cold start with a ready path is released only once the probe answered', async () => {
    const r = rig({}, true);
    r.provider.define(HELLO.key, { startupMs: 100, annotations: { [POLICY_KEYS.readyPath]: '/ready' } });
    await r.waker.check(HELLO, never(), 1000);
    const held = track(r.waker.hold(HELLO, never()));
    await r.at(1000);
    expect(r.prober.probes).toEqual([{ fn: HELLO.key, path: '/ready', deadline: T0 + WAKER_OPTIONS.wakeTimeoutMs }]);
    expect([held.state, r.waker.lookup(HELLO)]).toEqual(['pending', 'miss']);
    r.prober.gate.resolve();
    await r.at(1001);
    expect(held.value?.coldStart).toBe(true);
    expect(r.waker.lookup(HELLO)).toBe('ready');
  });

  test('WAKER_READY_PROBE_PATH applies to functions without their own path', async () => {
    const r = rig({ readyProbePath: '/_/health' }, true);
    r.provider.define(HELLO.key, { startupMs: 100 });
    const held = track(r.waker.hold(HELLO, never()));
    await r.at(1000);
    expect(r.prober.probes.map((p) => p.path)).toEqual(['/_/health']);
    r.prober.gate.resolve();
    await r.at(1001);
    expect(held.state).toBe('resolved');
  });

  test('a hold whose budget ends during the probe gets its 504; an already running function is not probed', async () => {
    const r = rig({ readyProbePath: '/r' }, true);
    r.provider.define(HELLO.key, { startupMs: 100 });
    const held = track(r.waker.hold(HELLO, never(), undefined, { budgetMs: 2000 }));
    await r.at(2000);
    expect(held.error).toBeInstanceOf(HoldTimeoutError);
    r.prober.gate.resolve();
    await r.at(2100);
    r.provider.define('warm.openfaas-fn', { replicas: 1 });
    const warm = { name: 'warm', namespace: 'openfaas-fn', key: 'warm.openfaas-fn' };
    const w = track(r.waker.hold(warm, never()));
    await r.at(2101);
    expect(w.value?.coldStart).toBe(false);
    expect(r.prober.probes.map((p) => p.fn)).toEqual([HELLO.key]);
  });

  test('without a prober nothing is probed, whatever the policy says', async () => {
    const r = rig({ readyProbePath: '/r' }, false);
    r.provider.define(HELLO.key, { startupMs: 100 });
    const held = track(r.waker.hold(HELLO, never()));
    await r.at(1000);
    expect(held.value?.coldStart).toBe(true);
    expect(r.prober.probes).toEqual([]);
  });
});
