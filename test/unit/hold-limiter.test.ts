import { HoldLimiter } from '../../src/waker/hold-limiter';

describe('HoldLimiter', () => {
  test('per-function limit', () => {
    const limiter = new HoldLimiter(2, 100);
    expect([limiter.tryAcquire('a'), limiter.tryAcquire('a'), limiter.tryAcquire('a')]).toEqual([true, true, false]);
    expect([limiter.held('a'), limiter.totalHeld]).toEqual([2, 2]);
    expect(limiter.tryAcquire('b')).toBe(true);
    limiter.release('a');
    expect([limiter.tryAcquire('a'), limiter.held('a'), limiter.totalHeld]).toEqual([true, 2, 3]);
  });

  test('total limit across functions', () => {
    const limiter = new HoldLimiter(10, 3);
    expect(['a', 'b', 'c', 'd', 'a'].map((k) => limiter.tryAcquire(k))).toEqual([true, true, true, false, false]);
    expect([limiter.held('d'), limiter.totalHeld]).toEqual([0, 3]);
    limiter.release('b');
    expect([limiter.tryAcquire('d'), limiter.totalHeld]).toEqual([true, 3]);
    expect(Object.fromEntries(limiter.entries())).toEqual({ a: 1, c: 1, d: 1 });
  });

  test('release never goes negative and never frees another function’s slot', () => {
    const limiter = new HoldLimiter(1, 2);
    limiter.release('never-held');
    expect(limiter.totalHeld).toBe(0);
    expect(limiter.tryAcquire('a')).toBe(true);
    for (let i = 0; i < 5; i++) limiter.release('a');
    limiter.release('b');
    expect([limiter.held('a'), limiter.totalHeld, [...limiter.entries()]]).toEqual([0, 0, []]);
    expect([limiter.tryAcquire('a'), limiter.tryAcquire('b'), limiter.tryAcquire('c')]).toEqual([true, true, false]);
  });

  test('a fully released function leaves no entry behind', () => {
    const limiter = new HoldLimiter(5, 5);
    limiter.tryAcquire('a');
    limiter.tryAcquire('a');
    limiter.release('a');
    expect([...limiter.entries()]).toEqual([['a', 1]]);
    limiter.release('a');
    expect([...limiter.entries()]).toEqual([]);
  });
});
