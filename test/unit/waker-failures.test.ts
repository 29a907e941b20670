import {
  ClientGoneError,
  FunctionNotFoundError,
  HoldTimeoutError,
  ProviderError,
  ProviderUnavailableError,
  QueueFullError,
  ShuttingDownError,
  WakeTimeoutError,
} from '../../src/errors';
import { createHarness, HELLO, never, OTHER, T0, track, type Harness } from '../fakes/waker-harness';

describe('Waker: failures', () => {
  let h: Harness;
  afterEach(() => h.close());

  test('404 -> FunctionNotFoundError, then lookup is "not-found" with no provider call', async () => {
    h = createHarness();
    const held = track(h.waker.hold(HELLO, never()));
    await h.clock.flush();
    expect(held.state).toBe('rejected');
    expect(held.error).toBeInstanceOf(FunctionNotFoundError);
    expect(h.waker.lookup(HELLO)).toBe('not-found');
    await h.clock.flush();
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount(), h.waker.heldTotal]).toEqual([1, 0, 0]);
  });

  test('a function removed during the wake -> FunctionNotFoundError at the next poll', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 6000 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(100);
    h.provider.remove(HELLO.key);
    await h.at(499);
    expect(held.state).toBe('pending');
    await h.at(500);
    expect(held.error).toBeInstanceOf(FunctionNotFoundError);
    expect(h.waker.lookup(HELLO)).toBe('not-found');
  });

  test('hold timeout -> HoldTimeoutError for that waiter; the wake goes on and a later hold needs no second scale', async () => {
    h = createHarness({ holdTimeoutMs: 1000, wakeTimeoutMs: 10_000 });
    h.provider.define(HELLO.key, { startupMs: 1500 });
    const first = track(h.waker.hold(HELLO, never()));
    await h.at(999);
    expect(first.state).toBe('pending');
    await h.at(1000);
    expect(first.error).toBeInstanceOf(HoldTimeoutError);
    expect(h.waker.heldTotal).toBe(0);
    expect(h.waker.snapshot().wakes).toEqual([{ fn: HELLO.key, sinceMs: 1000, waiters: 0 }]);
    await h.at(1500);
    const second = track(h.waker.hold(HELLO, never()));
    await h.at(1550); // the first poll after the 1500 ms start-up
    expect(second.value).toEqual({ coldStart: true, waitedMs: 50 });
    expect([h.provider.scaleCallCount(), h.provider.statusCallCount()]).toEqual([1, 16]);
  });

  test('wake timeout -> WakeTimeoutError, with the last poll exactly at the deadline', async () => {
    h = createHarness({ holdTimeoutMs: 5000, wakeTimeoutMs: 2000 });
    h.provider.define(HELLO.key, { startupMs: null });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(1999);
    expect(held.state).toBe('pending');
    await h.at(2000);
    expect(held.error).toBeInstanceOf(WakeTimeoutError);
    // 1 + polls every 75 ms from 500 to 1625, then on the budget's 100 ms grid up to the deadline
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount(), h.waker.snapshot().wakes]).toEqual([21, 1, []]);
    await h.at(60_000);
    expect(h.provider.statusCallCount()).toBe(21);
  });

  test('max held per function -> QueueFullError for the excess at once', async () => {
    h = createHarness({ maxHeldPerFunction: 2 });
    h.provider.define(HELLO.key, { startupMs: 600 }).define(OTHER.key, { startupMs: 600 });
    const kept = [track(h.waker.hold(HELLO, never())), track(h.waker.hold(HELLO, never()))];
    const excess = [track(h.waker.hold(HELLO, never())), track(h.waker.hold(HELLO, never()))];
    const other = track(h.waker.hold(OTHER, never()));
    await h.clock.flush();
    expect(excess.map((x) => x.error instanceof QueueFullError)).toEqual([true, true]);
    expect([h.waker.heldTotal, h.waker.snapshot().held]).toEqual([3, { [HELLO.key]: 2, [OTHER.key]: 1 }]);
    await h.at(650);
    expect([...kept, other].map((x) => x.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });

  test('max held in total -> QueueFullError across functions', async () => {
    h = createHarness({ maxHeldTotal: 1 });
    h.provider.define(HELLO.key, { startupMs: 600 }).define(OTHER.key, { startupMs: 600 });
    const a = track(h.waker.hold(HELLO, never()));
    const b = track(h.waker.hold(OTHER, never()));
    await h.clock.flush();
    expect([a.state, b.error instanceof QueueFullError, h.provider.statusCallCount(OTHER.key)]).toEqual(['pending', true, 0]);
  });

  test('client abort -> ClientGoneError at once; counts drop; other waiters still succeed', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const gone = new AbortController();
    const a = track(h.waker.hold(HELLO, gone.signal));
    const b = track(h.waker.hold(HELLO, never()));
    await h.at(100);
    expect(h.waker.snapshot().wakes[0]?.waiters).toBe(2);
    gone.abort();
    await h.clock.flush();
    expect(a.error).toBeInstanceOf(ClientGoneError);
    expect([h.waker.heldTotal, h.waker.snapshot()]).toEqual([
      1,
      { held: { [HELLO.key]: 1 }, wakes: [{ fn: HELLO.key, sinceMs: 100, waiters: 1 }] },
    ]);
    await h.at(650);
    expect(b.value).toEqual({ coldStart: true, waitedMs: 650 });
    expect(h.waker.heldTotal).toBe(0);
  });

  test('the only waiter aborting brings heldTotal back to 0 without time passing', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const gone = new AbortController();
    const a = h.waker.hold(HELLO, gone.signal);
    await h.at(50);
    gone.abort();
    await expect(a).rejects.toBeInstanceOf(ClientGoneError);
    expect([h.waker.heldTotal, h.clock.now(), h.waker.snapshot().held]).toEqual([0, T0 + 50, {}]);
  });

  test.each([
    ['ProviderError', new ProviderError('provider answered 500', 500)],
    ['ProviderUnavailableError', new ProviderUnavailableError('ECONNREFUSED')],
  ])('status call fails with %s -> rejected with it, nothing cached', async (_name, error) => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.provider.failStatusCalls(HELLO.key, [1], error);
    const held = track(h.waker.hold(HELLO, never()));
    await h.clock.flush();
    expect(held.error).toBe(error);
    expect([h.cache.get(HELLO.key, h.clock.now()), h.cache.size, h.waker.lookup(HELLO)]).toEqual([
      undefined,
      { ready: 0, notFound: 0 },
      'miss',
    ]);
    expect([h.provider.scaleCallCount(), h.waker.heldTotal]).toEqual([0, 0]);
  });

  test('a scale call answering 4xx (an RBAC denial, say) -> rejected at once with it, nothing cached', async () => {
    h = createHarness();
    const error = new ProviderError('scale answered 403', 403);
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.provider.failScale(HELLO.key, error);
    const held = track(h.waker.hold(HELLO, never()));
    await h.clock.flush();
    expect([held.error, h.cache.size, h.provider.scaleCallCount()]).toEqual([error, { ready: 0, notFound: 0 }, 1]);
  });

  test('a scale call that keeps failing (5xx) is retried at each poll, and is the answer after 15 s of failures', async () => {
    h = createHarness({ holdTimeoutMs: 30_000, wakeTimeoutMs: 60_000 });
    const error = new ProviderError('scale answered 500', 500);
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.provider.failScale(HELLO.key, error);
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(14_999);
    expect(held.state).toBe('pending');
    await h.at(15_100);
    expect([held.error, h.cache.size]).toEqual([error, { ready: 0, notFound: 0 }]);
    expect(h.provider.scaleCallCount()).toBeGreaterThan(100); // once per poll, on the call budget
  });

  test('a scale call answering 409 (the Deployment kept changing under its precondition) is retried at the next poll: the wake goes on', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.provider.failScale(HELLO.key, new ProviderError('the Deployment kept changing while it was scaled', 409));
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(1_000);
    expect(held.state).toBe('pending');
    const failedCalls = h.provider.scaleCallCount();
    expect(failedCalls).toBeGreaterThan(1); // retried, not final
    h.provider.failScale(HELLO.key, undefined);
    await h.at(3_000);
    expect(held.state).toBe('resolved');
  });

  test('a scale call that fails while the provider restarts is retried: the wake goes on', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.provider.failScale(HELLO.key, new ProviderUnavailableError('connection refused'));
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(1_000);
    h.provider.failScale(HELLO.key, undefined); // back
    await h.at(3_000);
    expect(held.state).toBe('resolved');
    expect(h.provider.scaleCalls.at(-1)?.atMs).toBeGreaterThanOrEqual(1_000_000 + 1_000);
  });

  test('2 failed polls in a row are tolerated', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 800 });
    h.provider.failStatusCalls(HELLO.key, [2, 3, 5, 6], new ProviderUnavailableError('blip'));
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(875);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 875 });
    expect(h.provider.statusCallCount()).toBe(7);
  });

  test('failed polls in a row for 15 s -> rejected with the last error', async () => {
    h = createHarness({ holdTimeoutMs: 30_000, wakeTimeoutMs: 60_000 });
    h.provider.define(HELLO.key, { startupMs: 60_000 });
    // Every poll fails from the first one (500 ms) on; the last one differs, to see which is reported.
    // Call 156 is the poll at 15,500 ms: 17 polls 500..1700 ms, then every 100 ms.
    const calls = Array.from({ length: 154 }, (_, i) => i + 2);
    h.provider.failStatusCalls(HELLO.key, calls, new ProviderUnavailableError('down'));
    h.provider.failStatusCalls(HELLO.key, [156], new ProviderError('last', 502));
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(15_499);
    expect(held.state).toBe('pending'); // three failures long ago, but not yet for 15 s: a restart, maybe
    await h.at(15_500);
    expect(held.error).toEqual(new ProviderError('last', 502));
    expect([h.provider.statusCallCount(), h.cache.size, h.waker.snapshot().wakes]).toEqual([156, { ready: 0, notFound: 0 }, []]);
  });

  test('a provider back within 15 s: the wake goes on after any number of failed polls', async () => {
    h = createHarness({ holdTimeoutMs: 30_000, wakeTimeoutMs: 60_000 });
    h.provider.define(HELLO.key, { startupMs: 12_000 });
    h.provider.failStatusCalls(
      HELLO.key,
      Array.from({ length: 100 }, (_, i) => i + 2),
      new ProviderUnavailableError('restarting'),
    );
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(12_100);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 12_000 });
  });

  test('stop() rejects every hold with ShuttingDownError and stops polling', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 6000 }).define(OTHER.key, { startupMs: 6000 });
    const holds = [track(h.waker.hold(HELLO, never())), track(h.waker.hold(HELLO, never())), track(h.waker.hold(OTHER, never()))];
    await h.at(100);
    const calls = h.provider.statusCallCount();
    h.waker.stop();
    await h.clock.flush();
    expect(holds.map((x) => x.error instanceof ShuttingDownError)).toEqual([true, true, true]);
    expect([h.waker.heldTotal, h.clock.pendingSleepers]).toEqual([0, 0]);
    await h.at(60_000);
    expect(h.provider.statusCallCount()).toBe(calls);
    await expect(h.waker.hold(HELLO, never())).rejects.toBeInstanceOf(ShuttingDownError);
  });

  test('refuseNewHolds(): new holds get ShuttingDownError at once, held ones still finish', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(100);
    h.waker.refuseNewHolds();
    const refused = track(h.waker.hold(HELLO, never()));
    await h.clock.flush();
    expect([refused.error instanceof ShuttingDownError, h.waker.heldTotal]).toEqual([true, 1]);
    await h.at(650);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 650 });
    expect([h.waker.heldTotal, h.provider.scaleCallCount()]).toEqual([0, 1]);
  });

  test('after stop(), wake() rejects with ShuttingDownError without calling the provider', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    h.waker.stop();
    const warm = track(h.waker.wake(HELLO));
    await h.at(1000);
    expect(warm.error).toBeInstanceOf(ShuttingDownError);
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([0, 0]);
  });

  test('a hold whose client is already gone -> ClientGoneError without waking the function', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const held = track(h.waker.hold(HELLO, AbortSignal.abort()));
    await h.at(1000);
    expect(held.error).toBeInstanceOf(ClientGoneError);
    expect([h.waker.heldTotal, h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([0, 0, 0]);
  });
});
