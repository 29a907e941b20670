import { FunctionNotFoundError, ProviderError, ProviderUnavailableError } from '../../src/errors';
import { functionRef, type FunctionRef } from '../../src/routing/function-ref';
import { MAX_LIST_PER_WAKE } from '../../src/waker/namespace-lists';
import { createHarness, never, track, type Harness, type Tracked } from '../fakes/waker-harness';
import type { HoldResult } from '../../src/waker/waker';

/** Functions that wake together in one namespace share `GET /system/functions` calls. */
describe('Waker: namespace lists', () => {
  let h: Harness;
  afterEach(() => h.close());

  const fns = (n: number, namespace = 'openfaas-fn'): FunctionRef[] =>
    Array.from({ length: n }, (_, i) => functionRef(`fn-${i}`, namespace));

  test('200 functions woken at once: no status poll, one list per 25 ms, each released within one gap of its start', async () => {
    h = createHarness();
    const all = fns(200);
    all.forEach((fn, i) => h.provider.define(fn.key, { startupMs: 1000 + 7 * i }));
    // Requests arrive over 200 ms (as a real burst does), so the wakes' poll times interleave.
    const holds: Tracked<HoldResult>[] = [];
    for (const fn of all) {
      holds.push(track(h.waker.hold(fn, never())));
      await h.at(holds.length);
    }
    await h.at(5_000);
    expect(holds.every((x) => x.state === 'resolved')).toBe(true);
    // The first status call of each wake, and the polls of the last few once the namespace is large
    // next to what still wakes in it (MAX_LIST_PER_WAKE); every other poll went through a list.
    expect(h.provider.statusCallCount()).toBeLessThan(200 + 30);
    const lags = holds.map((x, i) => (x.value as HoldResult).waitedMs - (1000 + 7 * i));
    expect(Math.min(...lags)).toBeGreaterThanOrEqual(0);
    // Within one list gap while many wake with it; the last few, once lists no longer pay, on their own schedule.
    expect([...lags].sort((x, y) => x - y)[Math.floor(lags.length * 0.9)]).toBeLessThanOrEqual(25);
    expect(Math.max(...lags)).toBeLessThanOrEqual(100);
    // Lists went out at most every 25 ms, from the first poll (500 ms) to the last function's
    // readiness (it was woken at 199 ms and takes 2393 ms).
    expect(h.provider.listCallCount('openfaas-fn')).toBeLessThanOrEqual(Math.ceil((199 + 2393 + 25 - 500) / 25) + 1);
    // Fixed 100 ms polling would have made one status call per function per 100 ms.
    const fixed = all.reduce((sum, _fn, i) => sum + 1 + Math.ceil((1000 + 7 * i) / 100), 0);
    expect(h.provider.listCallCount() + h.provider.statusCallCount()).toBeLessThan(fixed / 10);
  });

  test("a list made for one wake releases another whose function it shows ready, before that one's own poll", async () => {
    h = createHarness();
    const [fast, slow] = fns(2) as [FunctionRef, FunctionRef];
    h.provider.define(fast.key, { startupMs: 510 }).define(slow.key, { startupMs: 5_000 });
    track(h.waker.hold(slow, never())); // polls at 500, 575, 650, ...
    await h.at(40);
    const a = track(h.waker.hold(fast, never())); // polls at 540, 615, ...; ready at 550
    await h.at(600);
    // slow's list at 575 shows fast ready: released there, not at its own poll at 615.
    expect(a.value).toEqual({ coldStart: true, waitedMs: 535 });
    expect(h.provider.statusCallCount()).toBe(2);
  });

  test('one function waking alone polls with its own status calls, never a list', async () => {
    h = createHarness();
    const [only] = fns(1) as [FunctionRef];
    h.provider.define(only.key, { startupMs: 1000 });
    const held = track(h.waker.hold(only, never()));
    await h.at(2_000);
    expect(held.state).toBe('resolved');
    expect(h.provider.listCallCount()).toBe(0);
  });

  test('a namespace much larger than what wakes in it is listed once, then polled function by function', async () => {
    h = createHarness();
    const all = fns(2 * MAX_LIST_PER_WAKE + 1);
    for (const fn of all) h.provider.define(fn.key, { startupMs: 1000 });
    const [a, b] = all as [FunctionRef, FunctionRef];
    const holds = [track(h.waker.hold(a, never())), track(h.waker.hold(b, never()))];
    await h.at(2_000);
    expect(holds.map((x) => x.state)).toEqual(['resolved', 'resolved']);
    expect(h.provider.listCallCount()).toBe(1);
    expect(h.provider.statusCallCount()).toBeGreaterThan(2);
  });

  test('a function missing from the list is not found, and remembered as such', async () => {
    h = createHarness();
    const [kept, removed] = fns(2) as [FunctionRef, FunctionRef];
    h.provider.define(kept.key, { startupMs: 1000 }).define(removed.key, { startupMs: 1000 });
    const gone = track(h.waker.hold(removed, never()));
    const stays = track(h.waker.hold(kept, never()));
    await h.at(100);
    h.provider.remove(removed.key);
    await h.at(500); // the first poll: a list without it
    expect(gone.error).toBeInstanceOf(FunctionNotFoundError);
    expect(h.waker.lookup(removed)).toBe('not-found');
    await h.at(2_000);
    expect(stays.state).toBe('resolved');
  });

  test('list calls that fail count as failed polls for every wake that joined them', async () => {
    h = createHarness({ holdTimeoutMs: 30_000, wakeTimeoutMs: 60_000 });
    const pair = fns(2) as [FunctionRef, FunctionRef];
    for (const fn of pair) h.provider.define(fn.key, { startupMs: 60_000 });
    // The provider is down for polls of either kind (the wake that fails last polls alone).
    for (const fn of pair)
      h.provider.failStatusCalls(
        fn.key,
        Array.from({ length: 300 }, (_, i) => i + 2),
        new ProviderUnavailableError('blip'),
      );
    const original = h.provider.listStatuses.bind(h.provider);
    let failing = true;
    h.provider.listStatuses = (namespace, signal) =>
      failing ? Promise.reject(new ProviderUnavailableError('blip')) : original(namespace, signal);
    const holds: Tracked<HoldResult>[] = pair.map((fn) => track(h.waker.hold(fn, never())));
    await h.at(16_000); // every poll from 500 ms on failed: after 15 s of failures the wakes end
    expect(holds.map((x) => x.error)).toEqual([new ProviderUnavailableError('blip'), new ProviderUnavailableError('blip')]);
    failing = false;
  });

  test('stop() cancels a list that waits for its gap: every wake ends, no call is left behind', async () => {
    h = createHarness();
    const pair = fns(2) as [FunctionRef, FunctionRef];
    for (const fn of pair) h.provider.define(fn.key, { startupMs: 10_000 });
    const holds = pair.map((fn) => track(h.waker.hold(fn, never())));
    await h.at(510);
    h.waker.stop();
    await h.clock.flush();
    expect(holds.map((x) => x.state)).toEqual(['rejected', 'rejected']);
    expect(h.clock.pendingSleepers).toBe(0);
  });

  test('a provider without the list route: the failed list falls back to status polls, and lists rest for a minute', async () => {
    h = createHarness();
    const pair = fns(2) as [FunctionRef, FunctionRef];
    for (const fn of pair) h.provider.define(fn.key, { startupMs: 1_000 });
    let lists = 0;
    h.provider.listStatuses = () => {
      lists++;
      return Promise.reject(new ProviderError('provider list call answered 404', 404));
    };
    const holds = pair.map((fn) => track(h.waker.hold(fn, never())));
    await h.at(2_000);
    expect(holds.map((x) => x.value?.waitedMs)).toEqual([1025, 1025]);
    expect(lists).toBe(1);
  });
});
