import NodeCache from 'node-cache';

/**
 * What we believe about a function without asking the provider. Only two facts are cached: "ready"
 * and "unknown to the provider"; errors are never cached. Expiry is checked against the injected
 * clock (so tests are exact); node-cache only bounds memory (TTL sweep and a key limit).
 */
export type CachedState =
  | { readonly kind: 'ready'; readonly expiresAtMs: number; refreshAtMs: number }
  | { readonly kind: 'not-found'; readonly expiresAtMs: number };

export interface ReadinessCache {
  get(key: string, nowMs: number): CachedState | undefined;
  setReady(key: string, nowMs: number): void;
  setNotFound(key: string, nowMs: number): void;
  delete(key: string): void;
  readonly size: { ready: number; notFound: number };
  close(): void;
}

export interface ReadinessCacheOptions {
  readonly readyTtlMs: number;
  readonly notFoundTtlMs: number;
  readonly maxKeys: number;
}

export function createReadinessCache(options: ReadinessCacheOptions): ReadinessCache {
  // Separate stores, so a flood of unknown names can never push out the functions that are ready.
  const ready = boundedStore(options.readyTtlMs, options.maxKeys);
  const notFound = boundedStore(options.notFoundTtlMs, options.maxKeys);
  return {
    get(key, nowMs) {
      const state = ready.get<CachedState>(key) ?? notFound.get<CachedState>(key);
      if (state === undefined) return undefined;
      if (state.expiresAtMs > nowMs) return state;
      (state.kind === 'ready' ? ready : notFound).del(key);
      return undefined;
    },
    setReady(key, nowMs) {
      notFound.del(key);
      // Refresh ahead at half the TTL, so busy functions never reach expiry and never wait on the provider.
      trySet(ready, key, { kind: 'ready', expiresAtMs: nowMs + options.readyTtlMs, refreshAtMs: nowMs + options.readyTtlMs / 2 });
    },
    setNotFound(key, nowMs) {
      ready.del(key);
      trySet(notFound, key, { kind: 'not-found', expiresAtMs: nowMs + options.notFoundTtlMs });
    },
    delete(key) {
      ready.del(key);
      notFound.del(key);
    },
    get size() {
      return { ready: ready.keys().length, notFound: notFound.keys().length };
    },
    close() {
      ready.close();
      notFound.close();
    },
  };
}

function boundedStore(ttlMs: number, maxKeys: number): NodeCache {
  const ttlSec = Math.max(1, Math.ceil(ttlMs / 1000));
  return new NodeCache({ stdTTL: ttlSec + 1, checkperiod: Math.max(1, ttlSec), maxKeys, useClones: false, deleteOnExpire: true });
}

/** A full store refuses new keys (node-cache throws ECACHEFULL); then we simply do not cache. */
function trySet(store: NodeCache, key: string, value: CachedState): void {
  try {
    // node-cache counts an existing key against maxKeys too: replace, so a full store can still refresh.
    if (store.has(key)) store.del(key);
    store.set(key, value);
  } catch {
    // Full: the answer is still correct, only not remembered.
  }
}
