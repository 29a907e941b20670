import type { Clock } from '../../src/clock';
import { FunctionNotFoundError } from '../../src/errors';
import type { ProviderClient, ProviderEvents, StatusListener } from '../../src/provider/provider-client';
import type { FunctionStatus } from '../../src/provider/provider-types';
import type { FunctionRef } from '../../src/routing/function-ref';

/** How one scripted function behaves. Times are fake-clock milliseconds. */
export interface FunctionScript {
  /** Desired replicas at the start (default 0). */
  readonly replicas?: number;
  /** When replicas > 0 at the start: absolute time it becomes available (default: already available). */
  readonly readyAtMs?: number;
  /** After a scale from 0, replicas become available this much later; null = never (default 0). */
  readonly startupMs?: number | null;
  /** The `com.openfaas.scale.min` value the provider reports (default 1). */
  readonly minScale?: number;
  /** Reported as the status's labels and annotations (its per-function policy). */
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface FunctionState {
  replicas: number;
  readyAtMs: number | undefined;
  readonly startupMs: number | null;
  readonly minScale: number;
  labels: Record<string, string> | undefined;
  annotations: Record<string, string> | undefined;
  readonly statusFailures: Map<number, Error>;
  scaleFailure: Error | undefined;
}

export interface ScaleCall {
  readonly key: string;
  readonly replicas: number;
  readonly atMs: number;
}

/**
 * ProviderClient with scripted functions. An unknown key answers 404 (FunctionNotFoundError).
 * Counts every call; optional latency goes through the (fake) clock.
 */
export class FakeProvider implements ProviderClient {
  private readonly functions = new Map<string, FunctionState>();
  private readonly statusCounts = new Map<string, number>();
  readonly scaleCalls: ScaleCall[] = [];
  /** Latency of every call, slept on the injected clock (0 = answers in the same tick). */
  latencyMs = 0;
  closed = false;
  /** Set by watchable(): a provider that pushes every change, like the Kubernetes one. */
  events: ProviderEvents | undefined;
  /** While false, a watchable provider's events stop (a broken watch) and `live()` says so. */
  watching = true;
  private readonly listeners = new Set<StatusListener>();

  constructor(private readonly clock: Clock) {}

  /** Pushes every change to subscribers while `watching`, as a watching provider does. */
  watchable(): this {
    this.events = {
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
      live: () => this.watching,
      synced: Promise.resolve(),
    };
    return this;
  }

  private changed(key: string): void {
    if (this.events === undefined || !this.watching) return;
    const state = this.functions.get(key);
    const status = state === undefined ? undefined : this.statusOf(key, state);
    for (const listener of this.listeners) listener(key, status);
  }

  private statusOf(key: string, state: FunctionState): FunctionStatus {
    const [name = '', namespace] = key.split('.');
    const ready = state.replicas > 0 && state.readyAtMs !== undefined && this.clock.now() >= state.readyAtMs;
    return {
      name,
      namespace,
      replicas: state.replicas,
      availableReplicas: ready ? state.replicas : 0,
      minScale: state.minScale,
      ...meta(state),
    };
  }

  define(key: string, script: FunctionScript = {}): this {
    const replicas = script.replicas ?? 0;
    this.functions.set(key, {
      replicas,
      readyAtMs: replicas > 0 ? (script.readyAtMs ?? this.clock.now()) : undefined,
      startupMs: script.startupMs === undefined ? 0 : script.startupMs,
      minScale: script.minScale ?? 1,
      labels: script.labels,
      annotations: script.annotations,
      statusFailures: new Map(),
      scaleFailure: undefined,
    });
    return this;
  }

  /** Its annotations change (an operator edits the policy); pushed to watchers like any change. */
  annotate(key: string, annotations: Record<string, string>): void {
    this.state(key).annotations = annotations;
    this.changed(key);
  }

  /** The function disappears: from now on it answers 404. */
  remove(key: string): void {
    this.functions.delete(key);
    this.changed(key);
  }

  /** Someone else (the idler) scaled it to zero. */
  scaleToZero(key: string): void {
    const state = this.state(key);
    state.replicas = 0;
    state.readyAtMs = undefined;
    this.changed(key);
  }

  /** The status calls with these 1-based numbers (counted per function) throw `error`. */
  failStatusCalls(key: string, callNumbers: readonly number[], error: Error): void {
    for (const n of callNumbers) this.state(key).statusFailures.set(n, error);
  }

  failScale(key: string, error: Error | undefined): void {
    this.state(key).scaleFailure = error;
  }

  statusCallCount(key?: string): number {
    if (key !== undefined) return this.statusCounts.get(key) ?? 0;
    let total = 0;
    for (const n of this.statusCounts.values()) total += n;
    return total;
  }

  scaleCallCount(key?: string): number {
    return key === undefined ? this.scaleCalls.length : this.scaleCalls.filter((c) => c.key === key).length;
  }

  async getStatus(fn: FunctionRef, signal?: AbortSignal): Promise<FunctionStatus> {
    const n = (this.statusCounts.get(fn.key) ?? 0) + 1;
    this.statusCounts.set(fn.key, n);
    await this.delay(signal);
    const state = this.functions.get(fn.key);
    if (state === undefined) throw new FunctionNotFoundError(`provider does not know ${fn.key}`);
    const failure = state.statusFailures.get(n);
    if (failure !== undefined) throw failure;
    const ready = state.replicas > 0 && state.readyAtMs !== undefined && this.clock.now() >= state.readyAtMs;
    return {
      name: fn.name,
      namespace: fn.namespace,
      replicas: state.replicas,
      availableReplicas: ready ? state.replicas : 0,
      minScale: state.minScale,
      ...meta(state),
    };
  }

  /** List calls per namespace. */
  readonly listCalls = new Map<string, number>();

  async listStatuses(namespace: string, signal?: AbortSignal): Promise<FunctionStatus[]> {
    this.listCalls.set(namespace, (this.listCalls.get(namespace) ?? 0) + 1);
    await this.delay(signal);
    const suffix = `.${namespace}`;
    return [...this.functions.entries()]
      .filter(([key]) => key.endsWith(suffix))
      .map(([key, state]) => {
        const ready = state.replicas > 0 && state.readyAtMs !== undefined && this.clock.now() >= state.readyAtMs;
        return {
          name: key.slice(0, -suffix.length),
          namespace,
          replicas: state.replicas,
          availableReplicas: ready ? state.replicas : 0,
          minScale: state.minScale,
          ...meta(state),
        };
      });
  }

  listCallCount(namespace?: string): number {
    if (namespace !== undefined) return this.listCalls.get(namespace) ?? 0;
    let total = 0;
    for (const n of this.listCalls.values()) total += n;
    return total;
  }

  async scale(fn: FunctionRef, replicas: number, signal?: AbortSignal): Promise<void> {
    this.scaleCalls.push({ key: fn.key, replicas, atMs: this.clock.now() });
    await this.delay(signal);
    const state = this.functions.get(fn.key);
    if (state === undefined) throw new FunctionNotFoundError(`provider does not know ${fn.key}`);
    if (state.scaleFailure !== undefined) throw state.scaleFailure;
    if (replicas === 0) {
      state.replicas = 0;
      state.readyAtMs = undefined;
      return;
    }
    if (state.replicas === 0) state.readyAtMs = state.startupMs === null ? undefined : this.clock.now() + state.startupMs;
    state.replicas = replicas;
    this.changed(fn.key);
    const readyAt = state.readyAtMs;
    // The moment it becomes ready is a change too (what an EndpointSlice update is in Kubernetes).
    if (this.events !== undefined && readyAt !== undefined && readyAt > this.clock.now()) {
      void this.clock.sleep(readyAt - this.clock.now()).then(() => {
        if (this.functions.get(fn.key)?.readyAtMs === readyAt) this.changed(fn.key);
      });
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private state(key: string): FunctionState {
    const state = this.functions.get(key);
    if (state === undefined) throw new Error(`FakeProvider: ${key} is not defined`);
    return state;
  }

  private async delay(signal: AbortSignal | undefined): Promise<void> {
    if (this.latencyMs > 0) await this.clock.sleep(this.latencyMs, signal);
  }
}

/** Labels and annotations only when scripted: statuses of unscripted functions stay as they were. */
function meta(state: FunctionState): { labels?: Record<string, string>; annotations?: Record<string, string> } {
  return {
    ...(state.labels === undefined ? {} : { labels: state.labels }),
    ...(state.annotations === undefined ? {} : { annotations: state.annotations }),
  };
}
