import type { DeploymentWriter, WriteResult } from '../../src/idle/coordination';
import {
  ACTIVITY_ANNOTATION,
  ACTIVITY_BY_ANNOTATION,
  INTENT_ANNOTATION,
  SCALED_DOWN_ANNOTATION,
  intentValue,
} from '../../src/idle/coordination';
import type { DeploymentView } from '../../src/provider/kubernetes/function-state';
import type { DeploymentSource } from '../../src/idle/tracked-functions';
import { functionRef, type FunctionRef } from '../../src/routing/function-ref';

type Listener = (type: 'added' | 'modified' | 'deleted', object: DeploymentView) => void;

/** One replica's informer on the fake API: events arrive a microtask after the write, or queue while `lagging`. */
export class FakeInformer implements DeploymentSource<DeploymentView> {
  lagging = false;
  watching = true;
  private readonly listeners = new Set<Listener>();
  private readonly queued: DeploymentView[] = [];
  private readonly store = new Map<string, DeploymentView>();

  constructor(initial: Iterable<DeploymentView>) {
    for (const d of initial) this.store.set(d.metadata?.name ?? '', d);
  }

  list(): DeploymentView[] {
    return [...this.store.values()];
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Like a watch: the event arrives a moment (a microtask) after the write, unless lagging. */
  push(object: DeploymentView): void {
    this.queued.push(object);
    queueMicrotask(() => {
      if (!this.lagging) this.deliver();
    });
  }

  /** Delivers every queued event, in order. */
  deliver(): void {
    for (const object of this.queued.splice(0)) {
      const type = this.store.has(object.metadata?.name ?? '') ? 'modified' : 'added';
      this.store.set(object.metadata?.name ?? '', object);
      for (const l of this.listeners) l(type, object);
    }
  }
}

/** A record of one write as the API server applied it. */
export interface AppliedWrite {
  readonly kind: 'activity' | 'intent' | 'scaleToZero';
  readonly replica: string;
  readonly result: WriteResult['kind'];
}

/**
 * A tiny API server for Deployments in one namespace: merge-patch semantics for our three writes, their
 * conditions (resourceVersion for the intent, INTENT and replicas for the scale write; else `conflict`),
 * and a watch per replica (FakeInformer). Writes are applied in
 * call order unless `paused`, in which case they wait until `release()` (to order races exactly).
 */
export class FakeDeploymentApi {
  readonly objects = new Map<string, DeploymentView>();
  readonly applied: AppliedWrite[] = [];
  readonly informers: FakeInformer[] = [];
  /** Answer every write of these kinds with this result instead of applying it. */
  readonly refuse = new Map<AppliedWrite['kind'], 'denied' | 'error'>();
  /** Called after each write is applied (and its watch events sent): lets a test change the world at that instant. */
  afterApply: ((write: AppliedWrite) => void) | undefined;
  private rv = 100;
  private pausedWrites: (() => void)[] | undefined;

  create(name: string, labels: Record<string, string>, replicas = 1): FunctionRef {
    this.put({ metadata: { name, namespace: 'fns', labels: { faas_function: name, ...labels } }, spec: { replicas } });
    return functionRef(name, 'fns');
  }

  informer(): FakeInformer {
    const informer = new FakeInformer(this.objects.values());
    this.informers.push(informer);
    return informer;
  }

  replicas(name: string): number | undefined {
    return this.objects.get(name)?.spec?.replicas;
  }

  annotation(name: string, key: string): string | undefined {
    return this.objects.get(name)?.metadata?.annotations?.[key];
  }

  /** Someone else (an operator, an autoscaler) changes the Deployment. */
  patchReplicas(name: string, replicas: number): void {
    const current = this.objects.get(name);
    if (current !== undefined) this.put({ ...current, spec: { replicas } });
  }

  /** The Deployment controller writes status: a new resourceVersion, nothing of ours changed. */
  touchStatus(name: string): void {
    const current = this.objects.get(name);
    if (current !== undefined) this.put(current);
  }

  pause(): void {
    this.pausedWrites ??= [];
  }

  /** Applies the writes that waited, in call order, or the other way round (`reversed`). */
  release(reversed = false): void {
    const queued = this.pausedWrites ?? [];
    this.pausedWrites = undefined;
    for (const apply of reversed ? queued.reverse() : queued) apply();
  }

  count(kind: AppliedWrite['kind'], replica?: string, result: WriteResult['kind'] = 'ok'): number {
    return this.applied.filter((w) => w.kind === kind && (replica === undefined || w.replica === replica) && w.result === result).length;
  }

  writer(replica: string): DeploymentWriter {
    return {
      activity: (fn, _r, at) =>
        this.write('activity', replica, fn, undefined, {
          [ACTIVITY_ANNOTATION]: at.toISOString(),
          [ACTIVITY_BY_ANNOTATION]: replica,
          [INTENT_ANNOTATION]: null,
        }),
      intent: (fn, _r, at, rv) =>
        this.write('intent', replica, fn, (current) => current.metadata?.resourceVersion === rv, {
          [INTENT_ANNOTATION]: intentValue(replica, at),
        }),
      scaleToZero: (fn, _r, at, intent, replicas) =>
        this.write(
          'scaleToZero',
          replica,
          fn,
          (current) => current.metadata?.annotations?.[INTENT_ANNOTATION] === intent && (current.spec?.replicas ?? 1) === replicas,
          { [INTENT_ANNOTATION]: null, [SCALED_DOWN_ANNOTATION]: intentValue(replica, at) },
          0,
        ),
    };
  }

  private write(
    kind: AppliedWrite['kind'],
    replica: string,
    fn: FunctionRef,
    precondition: ((current: DeploymentView) => boolean) | undefined,
    annotations: Record<string, string | null>,
    replicas?: number,
  ): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve) => {
      const apply = (): void => {
        const result = this.apply(kind, fn, precondition, annotations, replicas);
        const write = { kind, replica, result: result.kind };
        this.applied.push(write);
        this.afterApply?.(write);
        // The answer reaches the caller after the API server applied it (a microtask later).
        void Promise.resolve().then(() => resolve(result));
      };
      if (this.pausedWrites !== undefined) this.pausedWrites.push(apply);
      else apply();
    });
  }

  private apply(
    kind: AppliedWrite['kind'],
    fn: FunctionRef,
    precondition: ((current: DeploymentView) => boolean) | undefined,
    annotations: Record<string, string | null>,
    replicas: number | undefined,
  ): WriteResult {
    const refused = this.refuse.get(kind);
    if (refused === 'denied') return { kind: 'denied' };
    if (refused === 'error') return { kind: 'error', message: 'HTTP 500' };
    const current = this.objects.get(fn.name);
    if (current === undefined) return { kind: 'gone' };
    if (precondition !== undefined && !precondition(current)) return { kind: 'conflict' };
    const merged: Record<string, string> = { ...current.metadata?.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    const next = this.put({
      ...current,
      metadata: { ...current.metadata, annotations: merged },
      spec: { replicas: replicas ?? current.spec?.replicas ?? 1 },
    });
    return { kind: 'ok', replicas: next.spec?.replicas ?? 1, resourceVersion: next.metadata?.resourceVersion, object: next };
  }

  private put(object: DeploymentView): DeploymentView {
    const next = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(next.metadata.name ?? '', next);
    for (const informer of this.informers) informer.push(next);
    return next;
  }
}
