import { getEventListeners } from 'node:events';
import { functionRef } from '../../src/routing/function-ref';
import { createHarness, HELLO, never, POLL_TIMES, T0, track, type Harness } from '../fakes/waker-harness';

describe('Waker: cold path (hold)', () => {
  let h: Harness;
  afterEach(() => h.close());

  test.each([
    [1, 1],
    [3, 3],
  ])('miss -> 1 status + 1 scale to %d (minScale %d) + polls until ready', async (minScale, replicas) => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600, minScale });
    expect(h.waker.lookup(HELLO)).toBe('miss');
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(0);
    expect([h.provider.statusCallCount(), h.provider.scaleCalls]).toEqual([1, [{ key: HELLO.key, replicas, atMs: T0 }]]);
    await h.at(649);
    expect(held.state).toBe('pending');
    expect(h.provider.statusCallCount()).toBe(3); // the first + polls at 500 and 575
    await h.at(650);
    expect(held).toEqual({ state: 'resolved', value: { coldStart: true, waitedMs: 650 }, error: undefined });
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([4, 1]);
    expect([h.waker.heldTotal, h.waker.snapshot()]).toEqual([0, { held: {}, wakes: [] }]);
  });

  test('a settled hold leaves no timer and no abort listener behind', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const client = new AbortController();
    const held = track(h.waker.hold(HELLO, client.signal));
    await h.at(100);
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(1);
    await h.at(650);
    expect(held.state).toBe('resolved');
    expect([getEventListeners(client.signal, 'abort').length, h.clock.pendingSleepers]).toEqual([0, 0]);
  });

  test('after a wake, lookup is "ready" without any provider call', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(650);
    expect(held.state).toBe('resolved');
    const calls = [h.provider.statusCallCount(), h.provider.scaleCallCount()];
    for (let i = 0; i < 100; i++) expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual(calls);
  });

  test.each([1, 200])('%d concurrent holds -> exactly 1 scale call and 4 status calls', async (n) => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const holds = Array.from({ length: n }, () => track(h.waker.hold(HELLO, never())));
    await h.at(100);
    expect(h.waker.heldTotal).toBe(n);
    expect(h.waker.snapshot()).toEqual({ held: { [HELLO.key]: n }, wakes: [{ fn: HELLO.key, sinceMs: 100, waiters: n }] });
    await h.at(650);
    expect(holds.every((x) => x.state === 'resolved' && x.value?.coldStart === true && x.value.waitedMs === 650)).toBe(true);
    expect([h.provider.scaleCallCount(), h.provider.statusCallCount(), h.waker.heldTotal]).toEqual([1, 4, 0]);
  });

  test('holds that join later wait only for the rest of the wake', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const first = track(h.waker.hold(HELLO, never()));
    await h.at(300);
    const second = track(h.waker.hold(HELLO, never()));
    await h.at(650);
    expect([first.value, second.value]).toEqual([
      { coldStart: true, waitedMs: 650 },
      { coldStart: true, waitedMs: 350 },
    ]);
    expect(h.provider.scaleCallCount()).toBe(1);
  });

  test('already available -> no scale call, coldStart false, answered at once', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { replicas: 2 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.clock.flush();
    expect(held).toEqual({ state: 'resolved', value: { coldStart: false, waitedMs: 0 }, error: undefined });
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount(), h.clock.pendingSleepers]).toEqual([1, 0, 0]);
    expect(h.waker.lookup(HELLO)).toBe('ready');
  });

  test('desired replicas > 0 but none available -> no scale call, polls until ready', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { replicas: 2, readyAtMs: T0 + 300 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(499);
    expect(held.state).toBe('pending');
    await h.at(500);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 500 });
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([2, 0]);
  });

  test('the provider forgetting the scale is answered with one more scale after 1 s', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 600 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(100);
    h.provider.scaleToZero(HELLO.key);
    await h.at(POLL_TIMES[6]); // 950: still within 1 s of the first scale
    expect(h.provider.scaleCallCount()).toBe(1);
    await h.at(POLL_TIMES[7]); // 1025: rescale; ready 600 ms later, seen at the 1625 poll
    expect(h.provider.scaleCalls.map((c) => c.atMs - T0)).toEqual([0, 1025]);
    await h.at(POLL_TIMES[15]);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 1625 });
  });

  test('different functions wake independently', async () => {
    h = createHarness();
    const other = functionRef('other', 'team');
    h.provider.define(HELLO.key, { startupMs: 100 }).define(other.key, { startupMs: 600 });
    const a = track(h.waker.hold(HELLO, never()));
    const b = track(h.waker.hold(other, never()));
    await h.at(650);
    // Without history nothing is polled in the first 500 ms: the 100 ms start is seen at 500.
    expect([a.value, b.value]).toEqual([
      { coldStart: true, waitedMs: 500 },
      { coldStart: true, waitedMs: 650 },
    ]);
    expect([h.provider.scaleCallCount(HELLO.key), h.provider.scaleCallCount(other.key)]).toEqual([1, 1]);
  });

  test('wake() pre-warms without taking a hold slot', async () => {
    h = createHarness({ maxHeldPerFunction: 1 });
    h.provider.define(HELLO.key, { startupMs: 600 });
    const warm = track(h.waker.wake(HELLO));
    await h.at(10);
    expect(h.waker.heldTotal).toBe(0);
    const held = track(h.waker.hold(HELLO, never()));
    const excess = track(h.waker.hold(HELLO, never()));
    await h.at(650);
    expect(warm.value).toEqual({ coldStart: true, scaled: true, startupMs: 650 });
    expect(held.value).toEqual({ coldStart: true, waitedMs: 640 });
    expect(excess.state).toBe('rejected');
    expect(h.provider.scaleCallCount()).toBe(1);
  });

  test('a learned start-up time finds readiness within one poll gap, with fewer polls than fixed 100 ms polling', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 3000 });
    const wakes: { lagMs: number; polls: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const start = i * 10_000;
      if (i > 0) h.provider.scaleToZero(HELLO.key);
      const before = h.provider.statusCallCount();
      const held = track(h.waker.hold(HELLO, never()));
      await h.at(start + 9_000);
      expect(held.state).toBe('resolved');
      const waited = (held.value as { waitedMs: number }).waitedMs;
      wakes.push({ lagMs: waited - 3000, polls: h.provider.statusCallCount() - before - 1 });
    }
    // The first wake has no history: the prior window, then the budget's 100 ms (30 polls for 3 s,
    // as many as fixed 100 ms polling; the fake start lands on a poll, so no lag).
    expect(wakes[0]).toEqual({ lagMs: 0, polls: 30 });
    // Later wakes: far fewer calls than the 30 that fixed 100 ms polling makes for a 3 s start;
    // once the estimate settles (third wake on), readiness is found within one 25 ms poll gap.
    for (const wake of wakes.slice(1)) {
      expect(wake.lagMs).toBeGreaterThanOrEqual(0);
      expect(wake.polls).toBeLessThan(12);
    }
    expect(wakes[1]?.lagMs).toBeLessThan(100);
    for (const wake of wakes.slice(2)) expect(wake.lagMs).toBeLessThanOrEqual(25);
    expect(wakes[3]?.polls).toBeLessThan(wakes[1]?.polls ?? 0);
    expect(h.provider.scaleCallCount()).toBe(4);
  });

  test('a function with no history of its own polls around the start-up of the functions woken before it', async () => {
    h = createHarness();
    const first = functionRef('first', 'openfaas-fn');
    const second = functionRef('second', 'openfaas-fn');
    h.provider.define(first.key, { startupMs: 3000 }).define(second.key, { startupMs: 3000 });
    track(h.waker.hold(first, never()));
    await h.at(5_000);
    const polls = (fn: typeof first): number => h.provider.statusCallCount(fn.key) - 1;
    expect(polls(first)).toBe(30); // no history at all: the prior window, then every 100 ms
    const held = track(h.waker.hold(second, never()));
    await h.at(10_000);
    expect(held.value?.waitedMs).toBeGreaterThanOrEqual(3000);
    expect(held.value?.waitedMs).toBeLessThanOrEqual(3100);
    expect(polls(second)).toBeLessThan(10);
  });
});
