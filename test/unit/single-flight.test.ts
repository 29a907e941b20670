import { SingleFlight } from '../../src/waker/single-flight';
import { deferred } from '../fakes/deferred';

describe('SingleFlight', () => {
  test('callers that arrive while work is in flight share it', async () => {
    const flight = new SingleFlight<number>();
    const gate = deferred<number>();
    const work = jest.fn(() => gate.promise);
    const a = flight.run('k', work);
    const b = flight.run('k', work);
    const c = flight.run('k', work);
    expect(work).toHaveBeenCalledTimes(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect([flight.has('k'), flight.size, [...flight.keys()]]).toEqual([true, 1, ['k']]);
    gate.resolve(7);
    await expect(Promise.all([a, b, c])).resolves.toEqual([7, 7, 7]);
  });

  test('forgets the key after success: the next call runs fresh work', async () => {
    const flight = new SingleFlight<string>();
    const work = jest.fn().mockResolvedValueOnce('first').mockResolvedValueOnce('second');
    await expect(flight.run('k', work)).resolves.toBe('first');
    expect([flight.has('k'), flight.size]).toEqual([false, 0]);
    await expect(flight.run('k', work)).resolves.toBe('second');
    expect(work).toHaveBeenCalledTimes(2);
  });

  test('forgets the key after an error, and shares the error meanwhile', async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    const boom = new Error('boom');
    const a = flight.run('k', () => gate.promise);
    const b = flight.run('k', () => Promise.resolve('never used'));
    gate.reject(boom);
    await expect(a).rejects.toBe(boom);
    await expect(b).rejects.toBe(boom);
    expect(flight.has('k')).toBe(false);
    await expect(flight.run('k', () => Promise.resolve('retried'))).resolves.toBe('retried');
  });

  test('keys are independent', async () => {
    const flight = new SingleFlight<string>();
    const gateA = deferred<string>();
    const gateB = deferred<string>();
    const workA = jest.fn(() => gateA.promise);
    const workB = jest.fn(() => gateB.promise);
    const a = flight.run('a', workA);
    const b = flight.run('b', workB);
    expect([workA.mock.calls.length, workB.mock.calls.length, flight.size]).toEqual([1, 1, 2]);
    gateB.resolve('B');
    await expect(b).resolves.toBe('B');
    expect([flight.has('a'), flight.has('b')]).toEqual([true, false]);
    gateA.reject(new Error('a failed'));
    await expect(a).rejects.toThrow('a failed');
    expect(flight.size).toBe(0);
  });
});
