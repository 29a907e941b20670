import { getEventListeners } from 'node:events';
import { ClientGoneError, HoldTimeoutError, ShuttingDownError } from '../../src/errors';
import { RELEASE_SLICE, WaiterQueue } from '../../src/waker/waiters';
import type { WakeOutcome } from '../../src/waker/waker';
import { FakeClock, flushMicrotasks } from '../fakes/fake-clock';
import { createHarness, HELLO, never, T0, track, type Harness } from '../fakes/waker-harness';

const OUTCOME: WakeOutcome = { coldStart: true, scaled: true, startupMs: 1000 };

/** A WaiterQueue whose later turns run only when the test says (`turn()`), and what each waiter got. */
function setup(n: number, budgetMs = 10_000) {
  const clock = new FakeClock(T0);
  const deferred: (() => void)[] = [];
  const queue = new WaiterQueue(clock, 'hello.openfaas-fn', (task) => deferred.push(task));
  const controllers = Array.from({ length: n }, () => new AbortController());
  /** Per waiter, every answer it got, in order; `order` is the order of resolutions. */
  const answers: string[][] = controllers.map(() => []);
  const order: number[] = [];
  controllers.forEach((c, i) => {
    void queue.add(c.signal, budgetMs).then(
      () => {
        order.push(i);
        answers[i]?.push('resolved');
      },
      (err: unknown) => answers[i]?.push(err instanceof Error ? err.constructor.name : 'non-error'),
    );
  });
  const done: number[] = [];
  return {
    clock,
    queue,
    controllers,
    answers,
    order,
    done,
    release: () => queue.releaseAll(OUTCOME, (released) => done.push(released)),
    /** Runs the tasks deferred so far (one loop turn), then lets their continuations run. */
    turn: async () => {
      for (const task of deferred.splice(0)) task();
      await flushMicrotasks();
    },
    pendingTurns: () => deferred.length,
  };
}

const settled = (answers: string[][]): number => answers.filter((a) => a.length > 0).length;

describe('WaiterQueue: a release in slices', () => {
  test('FIFO, RELEASE_SLICE per turn, each waiter resolved once; done once with the count', async () => {
    const n = RELEASE_SLICE * 2 + 10;
    const q = setup(n);
    q.release();
    await flushMicrotasks();
    expect([settled(q.answers), q.done]).toEqual([RELEASE_SLICE, []]);
    await q.turn();
    expect([settled(q.answers), q.done]).toEqual([RELEASE_SLICE * 2, []]);
    await q.turn();
    expect([settled(q.answers), q.done]).toEqual([n, [n]]);
    for (let i = 0; i < 5 && q.pendingTurns() > 0; i++) await q.turn(); // clean-up turns
    expect(q.order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(q.answers.every((a) => a.length === 1 && a[0] === 'resolved')).toBe(true);
    expect(q.done).toEqual([n]);
  });

  test('a client that leaves mid-release is rejected (ClientGoneError), never released; the others still are', async () => {
    const n = RELEASE_SLICE + 20;
    const q = setup(n);
    q.release();
    await flushMicrotasks();
    const leaver = RELEASE_SLICE + 5; // in the second slice
    q.controllers[leaver]?.abort();
    await q.turn();
    expect(q.answers[leaver]).toEqual([ClientGoneError.name]);
    expect(q.answers.filter((a) => a[0] === 'resolved')).toHaveLength(n - 1);
    expect(q.done).toEqual([n - 1]);
    expect(q.order).not.toContain(leaver);
  });

  test('a client leaving after its release changes nothing (answered once)', async () => {
    const q = setup(3);
    q.release();
    await flushMicrotasks();
    q.controllers[0]?.abort();
    await q.turn();
    expect(q.answers).toEqual([['resolved'], ['resolved'], ['resolved']]);
  });

  test('stop() mid-release releases every remaining waiter at once; later turns answer nobody again', async () => {
    const n = RELEASE_SLICE * 3;
    const q = setup(n);
    q.release();
    await flushMicrotasks();
    expect(settled(q.answers)).toBe(RELEASE_SLICE);
    q.queue.stop(new ShuttingDownError('shutting down'));
    await flushMicrotasks();
    expect(settled(q.answers)).toBe(n);
    for (let i = 0; i < 5 && q.pendingTurns() > 0; i++) await q.turn();
    expect(q.answers.every((a) => a.length === 1 && a[0] === 'resolved')).toBe(true);
    expect(q.order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(q.done).toEqual([n]);
  });

  test('stop() before any release rejects every waiter with the error, once', async () => {
    const q = setup(5);
    q.queue.stop(new ShuttingDownError('shutting down'));
    await flushMicrotasks();
    expect(q.answers).toEqual(Array.from({ length: 5 }, () => [ShuttingDownError.name]));
    expect(q.clock.pendingSleepers).toBe(0);
  });

  test('a budget that ends mid-release does not turn a released request into a 504', async () => {
    const q = setup(RELEASE_SLICE + 1, 100);
    await q.clock.advance(99);
    q.release();
    await q.clock.advance(50);
    expect(q.answers[RELEASE_SLICE]).toEqual([]);
    await q.turn();
    expect(q.answers.every((a) => a.length === 1 && a[0] === 'resolved')).toBe(true);
  });

  test('the release cancels the deadline timer at once and removes every abort listener once the burst is out', async () => {
    const q = setup(RELEASE_SLICE + 1);
    expect(q.clock.pendingSleepers).toBe(1); // one timer for the whole queue, not one per waiter
    q.release();
    await flushMicrotasks();
    expect(q.clock.pendingSleepers).toBe(0);
    for (let i = 0; i < 5 && q.pendingTurns() > 0; i++) await q.turn();
    expect(q.controllers.map((c) => getEventListeners(c.signal, 'abort').length)).toEqual(q.controllers.map(() => 0));
  });
});

describe('WaiterQueue: budgets', () => {
  test('each waiter times out at its own deadline, in deadline order, whatever the arrival order', async () => {
    const clock = new FakeClock(T0);
    const queue = new WaiterQueue(clock, 'hello.openfaas-fn');
    const ended: string[] = [];
    const hold = (name: string, budgetMs: number): void =>
      void queue.add(never(), budgetMs).catch((err: unknown) => {
        expect(err).toBeInstanceOf(HoldTimeoutError);
        ended.push(`${name}@${clock.now() - T0}`);
      });
    hold('a', 300);
    await clock.advance(50);
    hold('b', 100); // due at 150: earlier than a
    hold('c', 250); // due at 300: the same moment as a, after it
    hold('d', 0);
    await clock.advance(1000);
    expect(ended).toEqual(['d@50', 'b@150', 'a@300', 'c@300']);
    expect(clock.pendingSleepers).toBe(0);
  });

  test('waiters that leave free their place: nothing is kept for them, and the timer stops with the last', async () => {
    const clock = new FakeClock(T0);
    const queue = new WaiterQueue(clock, 'hello.openfaas-fn');
    const controllers = Array.from({ length: 100 }, () => new AbortController());
    const results = controllers.map((c) => track(queue.add(c.signal, 10_000)));
    for (const c of controllers) c.abort();
    await clock.flush();
    expect(results.every((r) => r.error instanceof ClientGoneError)).toBe(true);
    expect([queue.size, clock.pendingSleepers]).toEqual([0, 0]);
    // A later waiter still gets its own budget.
    const late = track(queue.add(never(), 200));
    await clock.advance(199);
    expect(late.state).toBe('pending');
    await clock.advance(1);
    expect(late.error).toBeInstanceOf(HoldTimeoutError);
  });
});

describe('Waker: a sliced release', () => {
  let h: Harness;
  afterEach(() => h.close());

  test('holds are released in arrival order', async () => {
    h = createHarness({}, { watchable: true });
    h.provider.define(HELLO.key, { startupMs: 1000 });
    const order: number[] = [];
    const n = RELEASE_SLICE * 3 + 1;
    const holds = Array.from({ length: n }, (_, i) => h.waker.hold(HELLO, never()).then(() => order.push(i)));
    await h.at(1000);
    await Promise.all(holds);
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  test('stop() during a release: every held request is answered once, with its CONTINUE (the function is ready)', async () => {
    h = createHarness({}, { watchable: true });
    h.provider.define(HELLO.key, { startupMs: 1000 });
    const n = RELEASE_SLICE * 3;
    // The first hold's continuation runs in the first slice: it stops the waker with the rest still to go.
    let settledAtStop = -1;
    const first = track(
      h.waker.hold(HELLO, never()).then((result) => {
        settledAtStop = holds.filter((x) => x.state !== 'pending').length;
        h.waker.stop();
        return result;
      }),
    );
    const holds = Array.from({ length: n }, () => track(h.waker.hold(HELLO, never())));
    await h.at(1000);
    await h.clock.flush();
    expect(settledAtStop).toBeGreaterThanOrEqual(0);
    expect(settledAtStop).toBeLessThan(n);
    expect([first.state, ...holds.map((x) => x.state)].every((state) => state === 'resolved')).toBe(true);
    expect(h.waker.heldTotal).toBe(0);
  });
});
