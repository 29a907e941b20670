import { FunctionNotFoundError } from '../../src/errors';
import { createHarness, HELLO, never, track, type Harness } from '../fakes/waker-harness';

/** A provider that pushes every change (the Kubernetes one): no polls while its watch is live. */
describe('Waker: a watching provider', () => {
  let h: Harness;
  afterEach(() => h.close());

  const watching = (): Harness => {
    const harness = createHarness({}, { watchable: true });
    return harness;
  };

  test('100 holds are released at the moment of the ready event; every read follows an event', async () => {
    h = watching();
    h.provider.define(HELLO.key, { startupMs: 3000 });
    const holds = Array.from({ length: 100 }, () => track(h.waker.hold(HELLO, never())));
    await h.at(0);
    // The first status read, then one more when the scale patch's change arrives: nothing timed.
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([2, 1]);
    await h.at(2999);
    expect(h.provider.statusCallCount()).toBe(2);
    expect(holds.every((x) => x.state === 'pending')).toBe(true);
    await h.at(3000);
    expect(holds.every((x) => x.state === 'resolved' && x.value?.waitedMs === 3000 && x.value.coldStart)).toBe(true);
    expect(h.provider.statusCallCount()).toBe(3);
  });

  test('a scale to zero made elsewhere is seen by the next request at once, not after the TTL', async () => {
    h = watching();
    h.provider.define(HELLO.key, { replicas: 1 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(0);
    expect([held.value?.coldStart, h.waker.lookup(HELLO)]).toEqual([false, 'ready']);
    await h.at(100);
    h.provider.scaleToZero(HELLO.key);
    expect(h.waker.lookup(HELLO)).toBe('miss');
  });

  test('a function deleted during its wake: not found at once', async () => {
    h = watching();
    h.provider.define(HELLO.key, { startupMs: 60_000 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(1000);
    h.provider.remove(HELLO.key);
    await h.at(1000);
    expect(held.error).toBeInstanceOf(FunctionNotFoundError);
  });

  test('replicas back to zero during the wake (someone scaled it down): scaled again', async () => {
    h = watching();
    h.provider.define(HELLO.key, { startupMs: 5_000 });
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(1500);
    h.provider.scaleToZero(HELLO.key);
    await h.at(1500);
    expect(h.provider.scaleCalls.map((c) => c.atMs - 1_000_000)).toEqual([0, 1500]);
    await h.at(6500);
    expect(held.value).toEqual({ coldStart: true, waitedMs: 6500 });
  });

  test('a broken watch falls back to polling on the call budget; a live one again stops it', async () => {
    h = watching();
    h.provider.define(HELLO.key, { startupMs: 8_000 });
    h.provider.watching = false;
    const held = track(h.waker.hold(HELLO, never()));
    await h.at(2000);
    const polled = h.provider.statusCallCount();
    expect(polled).toBeGreaterThan(15); // 1 + the polls of the first 2 s (prior window, then 100 ms)
    expect(polled).toBeLessThanOrEqual(1 + 20);
    h.provider.watching = true;
    await h.at(7_999);
    expect(h.provider.statusCallCount()).toBeLessThanOrEqual(polled + 1); // at most the poll in flight when it came back
    await h.at(8_000);
    expect(held.value?.waitedMs).toBe(8_000);
  });

  test('a function created after a 404 is found at once, not after the not-found TTL', async () => {
    h = watching();
    const miss = track(h.waker.hold(HELLO, never()));
    await h.at(0);
    expect([miss.error instanceof FunctionNotFoundError, h.waker.lookup(HELLO)]).toEqual([true, 'not-found']);
    h.provider.define(HELLO.key, { startupMs: 100 });
    h.provider.scaleToZero(HELLO.key); // any change of the new Deployment is an event
    expect(h.waker.lookup(HELLO)).toBe('miss');
  });
});
