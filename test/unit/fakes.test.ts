import { FunctionNotFoundError, ProviderError } from '../../src/errors';
import { functionRef } from '../../src/routing/function-ref';
import { FakeClock } from '../fakes/fake-clock';
import { FakeProvider } from '../fakes/fake-provider';

describe('FakeClock', () => {
  test('wakes sleepers in time order, each at its own time, ties in sleep order', async () => {
    const clock = new FakeClock(100);
    const woke: string[] = [];
    const sleep = (name: string, ms: number): Promise<void> => clock.sleep(ms).then(() => void woke.push(`${name}@${clock.now()}`));
    void sleep('c', 30);
    void sleep('a', 10);
    void sleep('b', 10);
    void sleep('late', 100);
    await clock.advance(29);
    expect(woke).toEqual(['a@110', 'b@110']);
    await clock.advance(1);
    expect([woke, clock.now(), clock.pendingSleepers]).toEqual([['a@110', 'b@110', 'c@130'], 130, 1]);
  });

  test('chained sleeps inside one advance run at the right times', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        await Promise.resolve();
        times.push(clock.now());
      }
    };
    const done = loop();
    await clock.advance(100);
    await done;
    expect([times, clock.now()]).toEqual([[10, 20, 30], 100]);
  });

  test('abort: before sleeping rejects at once, during sleep rejects with the reason and drops the sleeper', async () => {
    const clock = new FakeClock();
    const reason = new Error('stop');
    await expect(clock.sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = clock.sleep(10, controller.signal);
    expect(clock.pendingSleepers).toBe(1);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(clock.pendingSleepers).toBe(0);
  });

  test('sleep(0) and negative sleeps resolve on the next advance without moving time', async () => {
    const clock = new FakeClock(5);
    let done = 0;
    void clock.sleep(0).then(() => done++);
    void clock.sleep(-3).then(() => done++);
    await clock.advance(0);
    expect([done, clock.now()]).toEqual([2, 5]);
  });
});

describe('FakeProvider', () => {
  const fn = functionRef('hello', 'openfaas-fn');

  test('scripted start-up, counts, 404 and failures', async () => {
    const clock = new FakeClock();
    const provider = new FakeProvider(clock).define(fn.key, { startupMs: 100, minScale: 2 });
    expect(await provider.getStatus(fn)).toEqual({
      name: 'hello',
      namespace: 'openfaas-fn',
      replicas: 0,
      availableReplicas: 0,
      minScale: 2,
    });
    await provider.scale(fn, 2);
    await clock.advance(99);
    expect((await provider.getStatus(fn)).availableReplicas).toBe(0);
    await clock.advance(1);
    expect((await provider.getStatus(fn)).availableReplicas).toBe(2);
    const boom = new ProviderError('boom', 500);
    provider.failStatusCalls(fn.key, [4], boom);
    await expect(provider.getStatus(fn)).rejects.toBe(boom);
    await expect(provider.getStatus(functionRef('nope', 'openfaas-fn'))).rejects.toBeInstanceOf(FunctionNotFoundError);
    expect([provider.statusCallCount(fn.key), provider.statusCallCount(), provider.scaleCalls]).toEqual([
      4,
      5,
      [{ key: fn.key, replicas: 2, atMs: 0 }],
    ]);
  });

  test('latency goes through the clock', async () => {
    const clock = new FakeClock();
    const provider = new FakeProvider(clock).define(fn.key, { replicas: 1 });
    provider.latencyMs = 50;
    let answered = false;
    const call = provider.getStatus(fn).then(() => (answered = true));
    await clock.advance(49);
    expect(answered).toBe(false);
    await clock.advance(1);
    await call;
    expect(answered).toBe(true);
  });
});
