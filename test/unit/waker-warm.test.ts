import { ProviderUnavailableError } from '../../src/errors';
import { functionRef } from '../../src/routing/function-ref';
import { createHarness, HELLO, never, NOT_FOUND_TTL_MS, READY_TTL_MS, track, type Harness } from '../fakes/waker-harness';

/** Wakes HELLO (start-up 500 ms, seen at the 650 ms poll); returns the provider's status-call count after it. */
async function wakeHello(h: Harness): Promise<number> {
  h.provider.define(HELLO.key, { startupMs: 600 });
  const held = track(h.waker.hold(HELLO, never()));
  await h.at(650);
  expect(held.state).toBe('resolved');
  return h.provider.statusCallCount();
}

describe('Waker: warm path (lookup) and background refresh', () => {
  let h: Harness;
  afterEach(() => h.close());

  test('an unknown function is a miss, and lookup itself never calls the provider', async () => {
    h = createHarness();
    expect(h.waker.lookup(HELLO)).toBe('miss');
    await h.clock.flush();
    expect([h.provider.statusCallCount(), h.provider.scaleCallCount()]).toEqual([0, 0]);
  });

  test('no refresh before half the TTL', async () => {
    h = createHarness();
    const calls = await wakeHello(h);
    await h.at(650 + READY_TTL_MS / 2 - 1);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.provider.statusCallCount()).toBe(calls);
  });

  test('a lookup after refreshAt triggers exactly one status call and extends the entry', async () => {
    h = createHarness();
    const calls = await wakeHello(h);
    const refreshAt = 650 + READY_TTL_MS / 2;
    await h.at(refreshAt);
    expect([h.waker.lookup(HELLO), h.waker.lookup(HELLO), h.waker.lookup(HELLO)]).toEqual(['ready', 'ready', 'ready']);
    await h.clock.flush();
    expect(h.provider.statusCallCount()).toBe(calls + 1);
    expect(h.cache.get(HELLO.key, h.clock.now())?.expiresAtMs).toBe(h.clock.now() + READY_TTL_MS);
    // No further call until the next refreshAt (refreshAt + TTL/2), which is the old expiry: still ready then.
    await h.at(refreshAt + READY_TTL_MS / 2 - 1);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.provider.statusCallCount()).toBe(calls + 1);
    await h.at(650 + READY_TTL_MS);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.provider.statusCallCount()).toBe(calls + 2);
  });

  test('a refresh that finds 0 available makes the next lookup a miss', async () => {
    h = createHarness();
    const calls = await wakeHello(h);
    h.provider.scaleToZero(HELLO.key);
    await h.at(650 + READY_TTL_MS / 2);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.waker.lookup(HELLO)).toBe('miss');
    expect(h.provider.statusCallCount()).toBe(calls + 1);
  });

  test('a refresh that finds a 404 makes the next lookup not-found', async () => {
    h = createHarness();
    await wakeHello(h);
    h.provider.remove(HELLO.key);
    await h.at(650 + READY_TTL_MS / 2);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.waker.lookup(HELLO)).toBe('not-found');
  });

  test('a failed refresh is not retried on every hit; the entry simply expires', async () => {
    h = createHarness();
    const calls = await wakeHello(h);
    h.provider.failStatusCalls(HELLO.key, [calls + 1], new ProviderUnavailableError('down'));
    await h.at(650 + READY_TTL_MS / 2);
    expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    for (let i = 0; i < 10; i++) expect(h.waker.lookup(HELLO)).toBe('ready');
    await h.clock.flush();
    expect(h.provider.statusCallCount()).toBe(calls + 1);
    await h.at(650 + READY_TTL_MS);
    expect(h.waker.lookup(HELLO)).toBe('miss');
  });

  test('not-found is remembered for its TTL, then forgotten', async () => {
    h = createHarness();
    await expect(h.waker.hold(HELLO, never())).rejects.toThrow();
    await h.at(NOT_FOUND_TTL_MS - 1);
    expect(h.waker.lookup(HELLO)).toBe('not-found');
    await h.at(NOT_FOUND_TTL_MS);
    expect(h.waker.lookup(HELLO)).toBe('miss');
    expect(h.provider.statusCallCount()).toBe(1);
  });

  test('a hold for a function that became known again wakes it and clears not-found', async () => {
    h = createHarness();
    await expect(h.waker.hold(HELLO, never())).rejects.toThrow();
    h.provider.define(HELLO.key, { replicas: 1 });
    await expect(h.waker.hold(HELLO, never())).resolves.toEqual({ coldStart: false, waitedMs: 0 });
    expect(h.waker.lookup(HELLO)).toBe('ready');
  });

  test('isKnown: only functions the provider confirmed, bounded by maxLearned (oldest out)', async () => {
    h = createHarness({ maxLearned: 2 });
    const fns = ['a', 'b', 'c'].map((name) => functionRef(name, 'openfaas-fn'));
    for (const fn of fns) h.provider.define(fn.key, { replicas: 1 });
    await expect(h.waker.hold(HELLO, never())).rejects.toThrow();
    expect(h.waker.isKnown(HELLO.key)).toBe(false);
    await h.waker.hold(fns[0] ?? HELLO, never());
    await h.waker.hold(fns[1] ?? HELLO, never());
    expect(fns.map((fn) => h.waker.isKnown(fn.key))).toEqual([true, true, false]);
    await h.waker.hold(fns[2] ?? HELLO, never());
    expect(fns.map((fn) => h.waker.isKnown(fn.key))).toEqual([false, true, true]);
  });
});
