import type { Clock } from '../clock';
import { FunctionNotFoundError } from '../errors';
import type { FunctionStatus } from '../provider/provider-types';
import type { FunctionRef } from '../routing/function-ref';

/**
 * Coalesces the readiness polls of functions that wake at the same time in one namespace into
 * `GET /system/functions?namespace=NS` calls: one list answers every waking function of the namespace,
 * so 200 functions woken at once cost one provider call per poll gap instead of 200, and each list
 * result can release any of them as soon as it shows replicas (see `onList`).
 *
 * Bounds: at most one list call in flight per namespace and one started per `minGapMs`; and lists are
 * used only while the namespace is small next to what is waking (`MAX_LIST_PER_WAKE` entries per
 * waking function), so a namespace of thousands of functions is never listed for two wakes.
 */
export interface NamespaceListsDeps {
  readonly list: (namespace: string, signal: AbortSignal) => Promise<FunctionStatus[]>;
  readonly clock: Clock;
  /** Aborted on shutdown: a pending list call is cancelled and its waiters rejected. */
  readonly stopping: AbortSignal;
  /** Every list result, before the polls that asked for it settle. */
  readonly onList: (namespace: string, statuses: ReadonlyMap<string, FunctionStatus>) => void;
  readonly minGapMs: number;
}

/** A namespace larger than this many entries per waking function is polled function by function. */
export const MAX_LIST_PER_WAKE = 20;
/** After a failed list call (a provider without the list route, or one in trouble), poll one by one this long. */
export const LIST_RETRY_AFTER_MS = 60_000;

interface NamespaceState {
  next: Promise<ReadonlyMap<string, FunctionStatus>> | undefined;
  lastStartedAtMs: number;
  /** Entries in the last list; undefined until listed once. */
  size: number | undefined;
}

export class NamespaceLists {
  private readonly namespaces = new Map<string, NamespaceState>();
  /** Namespaces whose last list call failed, until when they are polled function by function. */
  private readonly unavailableUntil = new Map<string, number>();

  constructor(private readonly deps: NamespaceListsDeps) {}

  /** Whether polls of this namespace should go through lists while `waking` functions wake in it. */
  useful(namespace: string, waking: number): boolean {
    if (waking < 2) return false;
    const until = this.unavailableUntil.get(namespace);
    if (until !== undefined) {
      if (this.deps.clock.now() < until) return false;
      this.unavailableUntil.delete(namespace);
    }
    const size = this.namespaces.get(namespace)?.size;
    return size === undefined || size <= MAX_LIST_PER_WAKE * waking;
  }

  /**
   * `fn`'s status from the namespace's pending list call (joined while it waits for its gap or is in
   * flight), or a new one. Throws FunctionNotFoundError if the provider does not list it.
   */
  async statusOf(fn: FunctionRef): Promise<FunctionStatus> {
    const statuses = await this.next(fn.namespace);
    const status = statuses.get(fn.name);
    if (status === undefined) throw new FunctionNotFoundError(`provider does not list ${fn.key}`);
    return status;
  }

  /** Forgets namespaces with nothing pending (called when the last wake of a namespace ends). */
  forget(namespace: string): void {
    if (this.namespaces.get(namespace)?.next === undefined) this.namespaces.delete(namespace);
  }

  private next(namespace: string): Promise<ReadonlyMap<string, FunctionStatus>> {
    let state = this.namespaces.get(namespace);
    if (state === undefined) {
      state = { next: undefined, lastStartedAtMs: -Infinity, size: undefined };
      this.namespaces.set(namespace, state);
    }
    state.next ??= this.schedule(namespace, state);
    return state.next;
  }

  private async schedule(namespace: string, state: NamespaceState): Promise<ReadonlyMap<string, FunctionStatus>> {
    const { clock } = this.deps;
    try {
      const waitMs = state.lastStartedAtMs + this.deps.minGapMs - clock.now();
      if (waitMs > 0) await clock.sleep(waitMs, this.deps.stopping);
      state.lastStartedAtMs = clock.now();
      const list = await this.deps.list(namespace, this.deps.stopping);
      const statuses = new Map(list.map((status) => [status.name, status]));
      state.size = statuses.size;
      this.deps.onList(namespace, statuses);
      return statuses;
    } catch (err) {
      if (!this.deps.stopping.aborted) this.unavailableUntil.set(namespace, clock.now() + LIST_RETRY_AFTER_MS);
      throw err;
    } finally {
      state.next = undefined;
    }
  }
}
