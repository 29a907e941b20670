import { NO_POLICY } from '../../src/policy/policy';
import { createReadinessCache, type ReadinessCache } from '../../src/waker/readiness-cache';

describe('readiness cache', () => {
  let cache: ReadinessCache;
  const make = (maxKeys = 100): ReadinessCache => (cache = createReadinessCache({ readyTtlMs: 2000, notFoundTtlMs: 1000, maxKeys }));
  afterEach(() => cache.close());

  test('ready: expires by the passed nowMs; refreshAtMs is half the TTL', () => {
    make();
    cache.setReady('hello', 10_000);
    expect(cache.get('hello', 10_000)).toEqual({ kind: 'ready', expiresAtMs: 12_000, refreshAtMs: 11_000 });
    expect(cache.get('hello', 11_999)?.kind).toBe('ready');
    expect(cache.get('hello', 12_000)).toBeUndefined();
    expect(cache.size).toEqual({ ready: 0, notFound: 0 });
    expect(cache.get('hello', 10_000)).toBeUndefined();
  });

  test('not-found: expires by its own TTL', () => {
    make();
    cache.setNotFound('ghost', 500);
    expect(cache.get('ghost', 500)).toEqual({ kind: 'not-found', expiresAtMs: 1500 });
    expect(cache.get('ghost', 1499)?.kind).toBe('not-found');
    expect(cache.get('ghost', 1500)).toBeUndefined();
    expect(cache.size).toEqual({ ready: 0, notFound: 0 });
  });

  test('unknown key -> undefined', () => {
    make();
    expect(cache.get('nobody', 0)).toBeUndefined();
  });

  test('setReady clears not-found', () => {
    make();
    cache.setNotFound('fn', 0);
    cache.setReady('fn', 100);
    expect(cache.get('fn', 100)).toEqual({ kind: 'ready', expiresAtMs: 2100, refreshAtMs: 1100 });
    expect(cache.size).toEqual({ ready: 1, notFound: 0 });
  });

  test('setNotFound clears ready', () => {
    make();
    cache.setReady('fn', 0);
    cache.setNotFound('fn', 100);
    expect(cache.get('fn', 100)).toEqual({ kind: 'not-found', expiresAtMs: 1100 });
    expect(cache.size).toEqual({ ready: 0, notFound: 1 });
  });

  test('setReady again moves expiry forward', () => {
    make();
    cache.setReady('fn', 0);
    cache.setReady('fn', 1500);
    expect(cache.get('fn', 3000)).toEqual({ kind: 'ready', expiresAtMs: 3500, refreshAtMs: 2500 });
    expect(cache.size).toEqual({ ready: 1, notFound: 0 });
  });

  test('delete removes both kinds', () => {
    make();
    cache.setReady('a', 0);
    cache.setNotFound('b', 0);
    cache.delete('a');
    cache.delete('b');
    cache.delete('never-there');
    expect([cache.get('a', 0), cache.get('b', 0), cache.size]).toEqual([undefined, undefined, { ready: 0, notFound: 0 }]);
  });

  test('maxKeys is respected without throwing when filled past the limit', () => {
    make(3);
    expect(() => {
      for (let i = 0; i < 10; i++) cache.setReady(`r${i}`, 0);
      for (let i = 0; i < 10; i++) cache.setNotFound(`n${i}`, 0);
    }).not.toThrow();
    expect(cache.size).toEqual({ ready: 3, notFound: 3 });
    expect(['r0', 'r1', 'r2', 'r3'].map((k) => cache.get(k, 0)?.kind)).toEqual(['ready', 'ready', 'ready', undefined]);
  });

  // node-cache throws ECACHEFULL on any set() once full, even for a key it already holds; the
  // background refresh of a busy function must still move its expiry forward.
  test('a key already cached can be refreshed while the store is full', () => {
    make(3);
    for (const key of ['r0', 'r1', 'r2']) cache.setReady(key, 0);
    cache.setReady('r1', 1000);
    expect(cache.get('r1', 1000)).toEqual({ kind: 'ready', expiresAtMs: 3000, refreshAtMs: 2000 });
    expect(cache.get('r1', 2500)?.kind).toBe('ready');
  });

  test('separate stores: a flood of unknown names does not stop a ready key being cached', () => {
    make(5);
    for (let i = 0; i < 50; i++) cache.setNotFound(`unknown-${i}`, 0);
    cache.setReady('hot', 0);
    expect(cache.get('hot', 0)?.kind).toBe('ready');
    expect(cache.size).toEqual({ ready: 1, notFound: 5 });
  });

  test('policies: kept apart from readiness, expire at their TTL, dropped for an unknown function', () => {
    cache = createReadinessCache({ readyTtlMs: 2000, notFoundTtlMs: 1000, maxKeys: 100, policyTtlMs: 5000 });
    const policy = { ...NO_POLICY, waitingPage: false };
    cache.setPolicy('fn', policy, 0);
    expect([cache.getPolicy('fn', 4999), cache.get('fn', 0)]).toEqual([policy, undefined]);
    cache.setReady('fn', 0);
    cache.delete('fn'); // stale readiness does not make the policy stale
    expect(cache.getPolicy('fn', 1)).toBe(policy);
    expect(cache.getPolicy('fn', 5000)).toBeUndefined();
    cache.setPolicy('gone', policy, 0);
    cache.setNotFound('gone', 0);
    expect(cache.getPolicy('gone', 0)).toBeUndefined();
  });
});
