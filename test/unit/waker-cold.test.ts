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
    h.provider.define(HELLO.key, { startupMs: 500, minScale });
    expect(h.waker.lookup(HELLO)).toBe('miss');
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(0);
    expect([h.provider.statusCallCount(), h.provider.scaleCalls]).toEqual([1, [{ key: HELLO.key, replicas, atMs: T0 }]]);
    await h.at(519);
    expect(held.state).toBe('pending');
    expect(h.provider.statusCallCount()).toBe(6); // 25, 63, 119, 203, 330 + the first
    await h.at(520);
    expect(held).toEqual({ state: 'resolved', value: { coldStart: true, waitedMs: 520 }, error: undefined });
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([7, 1]);
    expect([h.waker.heldTotal, h.waker.snapshot()]).toEqual([0, { held: {}, wakes: [] }]);
  });

  test('a settled hold leaves no timer and no abort listener behind', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 500 });
    const client = new AbortController();
    const held = track(h.waker.hold(HELLO, client.signal));
    await h.at(100);
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(1);
    await h.at(520);
    expect(held.state).toBe('resolved');
    expect([getEventListeners(client.signal, 'abort').length, h.clock.pendingSleepers]).toEqual([0, 0]);
  });

  test('after a wake, lookup is "ready" without any provider call', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 500 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(520);
    expect(held.state).toBe('resolved');
    const calls = [h.provider.statusCallCount(), h.provider.scaleCallCount()];
    for (let i = 0; i < 100; i++) expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual(calls);
  });

  test.each([1, 200])('%d concurrent holds -> exactly 1 scale call and 7 status calls', async (n) => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 500 });
    const holds = Array.from({ length: n }, () => track(h.waker.hold(HELLO, never())));
    await h.at(100);
    expect(h.waker.heldTotal).toBe(n);
    expect(h.waker.snapshot()).toEqual({ held: { [HELLO.key]: n }, wakes: [{ fn: HELLO.key, sinceMs: 100, waiters: n }] });
    await h.at(520);
    expect(holds.every((x) => x.state === 'resolved' && x.value?.coldStart === true && x.value.waitedMs === 520)).toBe(true);
    expect([h.provider.scaleCallCount(), h.provider.statusCallCount(), h.waker.heldTotal]).toEqual([1, 7, 0]);
  });

  test('holds that join later wait only for the rest of the wake', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 500 });
    const first = track(h.waker.hold(HELLO, never()));
    await h.at(300);
    const second = track(h.waker.hold(HELLO, never()));
    await h.at(520);
    expect([first.value, second.value]).toEqual([
      { coldStart: true, waitedMs: 520 },
      { coldStart: true, waitedMs: 220 },
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
    await h.at(329);
    expect(held.state).toBe('pending');
    await h.at(330);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 330 });
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([6, 0]);
  });

  test('the provider forgetting the scale is answered with one more scale after 1 s', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 500 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(100);
    h.provider.scaleToZero(HELLO.key);
    await h.at(POLL_TIMES[6]); // 805: still within 1 s of the first scale
    expect(h.provider.scaleCallCount()).toBe(1);
    await h.at(POLL_TIMES[7]); // 1232: rescale; ready 500 ms later, seen at the 1873 poll
    expect(h.provider.scaleCalls.map((c) => c.atMs - T0)).toEqual([0, 1232]);
    await h.at(POLL_TIMES[8]);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 1873 });
  });

  test('different functions wake independently', async () => {
    h = createHarness();
    const other = functionRef('other', 'team');
    h.provider.define(HELLO.key, { startupMs: 100 }).define(other.key, { startupMs: 500 });
    const a = track(h.waker.hold(HELLO, never()));
    const b = track(h.waker.hold(other, never()));
    await h.at(520);
    expect([a.value, b.value]).toEqual([
      { coldStart: true, waitedMs: 119 },
      { coldStart: true, waitedMs: 520 },
    ]);
    expect([h.provider.scaleCallCount(HELLO.key), h.provider.scaleCallCount(other.key)]).toEqual([1, 1]);
  });

  test('wake() pre-warms without taking a hold slot', async () => {
    h = createHarness({ maxHeldPerFunction: 1 });
    h.provider.define(HELLO.key, { startupMs: 500 });
    const warm = track(h.waker.wake(HELLO));
    await h.at(10);
    expect(h.waker.heldTotal).toBe(0);
    const held = track(h.waker.hold(HELLO, never()));
    const excess = track(h.waker.hold(HELLO, never()));
    await h.at(520);
    expect(warm.value).toEqual({ coldStart: true, scaled: true, startupMs: 520 });
    expect(held.value).toEqual({ coldStart: true, waitedMs: 510 });
    expect(excess.state).toBe('rejected');
    expect(h.provider.scaleCallCount()).toBe(1);
  });

  test('a learned start-up time makes the next wake poll less', async () => {
    h = createHarness();
    h.provider.define(HELLO.key, { startupMs: 3000 });
    const first = track(h.waker.hold(HELLO, never()));
    await h.at(3834);
    expect(first.value).toEqual({ coldStart: true, waitedMs: 3834 });
    const firstPolls = h.provider.statusCallCount() - 1;
    expect(firstPolls).toBe(11);

    h.provider.scaleToZero(HELLO.key);
    await h.at(10_000);
    const before = h.provider.statusCallCount();
    const second = track(h.waker.hold(HELLO, never()));
    await h.at(20_000);
    const secondPolls = h.provider.statusCallCount() - before - 1;
    // estimate {mean 3834, dev 383.4}: sleeps to the window start (3067 ms), which is past the 3000 ms start-up.
    expect(second.value).toEqual({ coldStart: true, waitedMs: 3067 });
    expect(secondPolls).toBe(1);
    expect(secondPolls).toBeLessThan(firstPolls);
    expect(h.provider.scaleCallCount()).toBe(2);
  });
});
