import type { Clock } from '../clock';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionStatuses } from './function-statuses';
import type { ReadinessCache } from './readiness-cache';
import type { WakeFlights } from './wake-flights';

export interface ProviderChangesDeps {
  readonly flights: WakeFlights;
  readonly statuses: FunctionStatuses;
  readonly cache: ReadinessCache;
  readonly clock: Clock;
}

/**
 * A watching provider saw a function change. Its wake, if any, reads the new status at once (ready:
 * released; gone: not found; replicas back to 0: scaled again). A scale to zero (or a delete) made
 * elsewhere empties the cache entry at once, so the next request takes the cold path instead of
 * reaching a sleeping function.
 */
export function onProviderChange(deps: ProviderChangesDeps, key: string, status: FunctionStatus | undefined): void {
  if (status !== undefined) deps.statuses.learn(key, status);
  const flight = deps.flights.get(key);
  if (flight !== undefined) {
    flight.changed = true;
    flight.nudge?.abort();
  }
  const cached = deps.cache.get(key, deps.clock.now());
  if (cached === undefined) return;
  // Stale either way: "ready" for a function that has none, "unknown" for one that now exists.
  const stale = cached.kind === 'ready' ? status === undefined || status.availableReplicas === 0 : status !== undefined;
  if (stale) deps.cache.delete(key);
}

/** Every list result releases the wakes of its namespace whose function it shows ready. */
export function onList(deps: ProviderChangesDeps, namespace: string, statuses: ReadonlyMap<string, FunctionStatus>): void {
  // Only functions already seen: a namespace of thousands must not fill the policy store.
  for (const [name, status] of statuses) {
    const key = `${name}.${namespace}`;
    if (deps.statuses.policyOf(key) !== undefined || deps.flights.has(key)) deps.statuses.learn(key, status);
  }
  for (const flight of deps.flights.values()) {
    if (flight.fn.namespace !== namespace) continue;
    const status = statuses.get(flight.fn.name);
    if (status === undefined || status.availableReplicas === 0) continue;
    flight.pushed = status;
    flight.nudge?.abort();
  }
}
