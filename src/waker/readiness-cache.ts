import NodeCache from 'node-cache';
import type { FunctionPolicy } from '../policy/policy';

/**
 * What we believe about a function without asking the provider: "ready" or "unknown to the
 * provider" (errors are never cached), and apart from those its last seen policy. Expiry is checked
 * against the injected clock (so tests are exact); node-cache only bounds memory (TTL sweep and a
 * key limit).
 */
export type CachedState =
  | { readonly kind: 'ready'; readonly expiresAtMs: number; refreshAtMs: number }
  | { readonly kind: 'not-found'; readonly expiresAtMs: number };

export interface ReadinessCache {
  get(key: string, nowMs: number): CachedState | undefined;
  setReady(key: string, nowMs: number): void;
  setNotFound(key: string, nowMs: number): void;
  delete(key: string): void;
  /**
   * The function's policy as its last seen status said (kept apart from readiness: a sleeping
   * function has no "ready" entry but its no-wake paths and waiting page still apply). The warm path
   * never reads it: no decision for a ready function depends on policy.
   */
  getPolicy(key: string, nowMs: number): FunctionPolicy | undefined;
  setPolicy(key: string, policy: FunctionPolicy, nowMs: number): void;
  readonly size: { ready: number; notFound: number };
  close(): void;
}

export interface ReadinessCacheOptions {
  readonly readyTtlMs: number;
  readonly notFoundTtlMs: number;
  readonly maxKeys: number;
  /** How long a policy is trusted without a new status (default 10 min); every status seen refreshes it. */
  readonly policyTtlMs?: number;
}

interface PolicyEntry {
  readonly policy: FunctionPolicy;
  readonly expiresAtMs: number;
}

export const DEFAULT_POLICY_TTL_MS = 600_000;

export function createReadinessCache(options: ReadinessCacheOptions): ReadinessCache {
  // Separate stores, so a flood of unknown names can never push out the functions that are ready.
  const ready = boundedStore(options.readyTtlMs, options.maxKeys);
  const notFound = boundedStore(options.notFoundTtlMs, options.maxKeys);
  const policyTtlMs = options.policyTtlMs ?? DEFAULT_POLICY_TTL_MS;
  const policies = boundedStore(policyTtlMs, options.maxKeys);
  return {
    get(key, nowMs) {
      // setReady and setNotFound each delete the other entry: at most one of the two exists.
      return fresh<CachedState>(ready, key, nowMs) ?? fresh<CachedState>(notFound, key, nowMs);
    },
    setReady(key, nowMs) {
      notFound.del(key);
      // Refresh ahead at half the TTL, so busy functions never reach expiry and never wait on the provider.
      trySet(ready, key, { kind: 'ready', expiresAtMs: nowMs + options.readyTtlMs, refreshAtMs: nowMs + options.readyTtlMs / 2 });
    },
    setNotFound(key, nowMs) {
      ready.del(key);
      policies.del(key); // an unknown function has no policy

      trySet(notFound, key, { kind: 'not-found', expiresAtMs: nowMs + options.notFoundTtlMs });
    },
    delete(key) {
      ready.del(key);
      notFound.del(key);
    },
    getPolicy(key, nowMs) {
      return fresh<PolicyEntry>(policies, key, nowMs)?.policy;
    },
    setPolicy(key, policy, nowMs) {
      trySet(policies, key, { policy, expiresAtMs: nowMs + policyTtlMs });
    },
    get size() {
      return { ready: ready.keys().length, notFound: notFound.keys().length };
    },
    close() {
      ready.close();
      notFound.close();
      policies.close();
    },
  };
}

function boundedStore(ttlMs: number, maxKeys: number): NodeCache {
  const ttlSec = Math.max(1, Math.ceil(ttlMs / 1000));
  return new NodeCache({ stdTTL: ttlSec + 1, checkperiod: Math.max(1, ttlSec), maxKeys, useClones: false, deleteOnExpire: true });
}

/** The entry under `key` unless it has expired by `nowMs` (then it is dropped). */
function fresh<T extends { readonly expiresAtMs: number }>(store: NodeCache, key: string, nowMs: number): T | undefined {
  const entry = store.get<T>(key);
  if (entry === undefined || entry.expiresAtMs > nowMs) return entry;
  store.del(key);
  return undefined;
}

/** A full store refuses new keys (node-cache throws ECACHEFULL); then we simply do not cache. */
function trySet(store: NodeCache, key: string, value: CachedState | PolicyEntry): void {
  try {
    // node-cache counts an existing key against maxKeys too: replace, so a full store can still refresh.
    if (store.has(key)) store.del(key);
    store.set(key, value);
  } catch {
    // Full: the answer is still correct, only not remembered.
  }
}
