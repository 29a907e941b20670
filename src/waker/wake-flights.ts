import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';
import type { WaiterQueue } from './waiters';

/** One function's wake in flight, shared by every request held on it. */
export interface WakeFlight {
  readonly fn: FunctionRef;
  readonly startedAtMs: number;
  readonly waiters: WaiterQueue;
  /** A ready status seen in a namespace list made for another wake: ends this wake's sleep early. */
  pushed: FunctionStatus | undefined;
  /** A watching provider saw this function change: read its status now (a read from its store). */
  changed: boolean;
  /** Aborted to end the current poll sleep when `pushed` or `changed` arrives. */
  nudge: AbortController | undefined;
}

/** The wakes in flight, one per function, and how many per namespace (two or more poll through lists). */
export class WakeFlights {
  private readonly byKey = new Map<string, WakeFlight>();
  private readonly perNamespace = new Map<string, number>();

  /** `forget`: the namespace's last wake ended (its list results are no longer wanted). */
  constructor(private readonly forget: (namespace: string) => void) {}

  get(key: string): WakeFlight | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  values(): IterableIterator<WakeFlight> {
    return this.byKey.values();
  }

  /** Wakes in flight in `namespace`. */
  waking(namespace: string): number {
    return this.perNamespace.get(namespace) ?? 0;
  }

  add(flight: WakeFlight): void {
    this.byKey.set(flight.fn.key, flight);
    this.perNamespace.set(flight.fn.namespace, this.waking(flight.fn.namespace) + 1);
  }

  /** The wake ended: the next request for its function starts a new one. */
  end(flight: WakeFlight): void {
    this.byKey.delete(flight.fn.key);
    const { namespace } = flight.fn;
    const waking = (this.perNamespace.get(namespace) ?? 1) - 1;
    if (waking > 0) {
      this.perNamespace.set(namespace, waking);
      return;
    }
    this.perNamespace.delete(namespace);
    this.forget(namespace);
  }
}
