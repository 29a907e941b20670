import type { Clock } from '../clock';
import { errorMessage, FunctionNotFoundError, ProviderError } from '../errors';
import type { Logger } from '../logging';
import type { FunctionPolicy } from '../policy/policy';
import { policyFrom } from '../policy/policy-parse';
import { PolicyReporter } from '../policy/policy-report';
import type { ProviderClient } from '../provider/provider-client';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';
import { trimOldest } from './bounded';
import type { ReadinessCache } from './readiness-cache';
import { SingleFlight } from './single-flight';

export interface FunctionStatusesDeps {
  readonly provider: ProviderClient;
  readonly cache: ReadinessCache;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bound on confirmed functions remembered (and on policy reports). */
  readonly maxLearned: number;
  /** Largest per-function hold a policy may ask for. */
  readonly maxHoldTimeoutMs: number;
}

/**
 * Status calls and what they teach: one call in flight per function (shared by wakes, checks and
 * background refreshes), the policy parsed from every status seen, and which functions the provider
 * has confirmed (bounded: only these get metric labels).
 */
export class FunctionStatuses {
  private readonly calls = new SingleFlight<FunctionStatus>();
  private readonly known = new Set<string>();
  private readonly policyReporter: PolicyReporter;

  constructor(private readonly deps: FunctionStatusesDeps) {
    this.policyReporter = new PolicyReporter(deps.logger, deps.maxLearned);
  }

  /** One status call in flight per function; a 404 is cached as not found. */
  fetch(fn: FunctionRef): Promise<FunctionStatus> {
    return this.calls.run(fn.key, async () => {
      try {
        const status = await this.deps.provider.getStatus(fn);
        this.markKnown(fn.key);
        this.learn(fn.key, status);
        return status;
      } catch (err) {
        if (err instanceof FunctionNotFoundError) this.deps.cache.setNotFound(fn.key, this.deps.clock.now());
        throw err;
      }
    });
  }

  /** Whether a status call for `key` is under way. */
  inFlight(key: string): boolean {
    return this.calls.has(key);
  }

  /** Parses and caches the policy in a status: every status the waker sees goes through here. */
  learn(key: string, status: FunctionStatus): FunctionPolicy {
    const policy = policyFrom(
      status.labels,
      status.annotations,
      { maxHoldTimeoutMs: this.deps.maxHoldTimeoutMs },
      this.policyReporter.forFunction(key),
    );
    this.deps.cache.setPolicy(key, policy, this.deps.clock.now());
    return policy;
  }

  /** The policy as last seen (undefined: never seen, or long ago). */
  policyOf(key: string): FunctionPolicy | undefined {
    return this.deps.cache.getPolicy(key, this.deps.clock.now());
  }

  isKnown(key: string): boolean {
    return this.known.has(key);
  }

  /** Keeps a busy function's "ready" fresh, and notices a scale-to-zero made behind our back. */
  refresh(fn: FunctionRef): void {
    const { cache, clock, logger } = this.deps;
    this.fetch(fn).then(
      (status) => {
        if (status.availableReplicas > 0) cache.setReady(fn.key, clock.now());
        else cache.delete(fn.key);
      },
      (err: unknown) => {
        // Not cached: the entry simply expires at its TTL, and the next miss takes the cold path.
        const providerStatus = err instanceof ProviderError ? err.status : undefined;
        logger.warn({ event: 'refresh.failed', fn: fn.key, providerStatus, err: errorMessage(err) }, 'background refresh failed');
      },
    );
  }

  private markKnown(key: string): void {
    if (this.known.has(key)) return;
    this.known.add(key);
    trimOldest(this.known, this.deps.maxLearned);
  }
}
