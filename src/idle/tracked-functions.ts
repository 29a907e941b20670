import type { Clock } from '../clock';
import type { Logger } from '../logging';
import { isFunction, type DeploymentView } from '../provider/kubernetes/function-state';
import { functionRef, type FunctionRef } from '../routing/function-ref';
import { ACTIVITY_ANNOTATION, INTENT_ANNOTATION, intentOwner } from './coordination';
import { idleDurationMs, SCALE_ZERO_DURATION_LABEL, SCALE_ZERO_LABEL } from './idle-policy';

/** One scale-to-zero function as this replica knows it: the informer's view plus its own counters. */
export interface TrackedFunction {
  readonly fn: FunctionRef;
  idleMs: number;
  /** The label value whose problem (invalid, clamped) was logged: once per function and value. */
  loggedLabel: string | undefined;
  replicas: number;
  resourceVersion: string | undefined;
  /** ACTIVITY as last seen, and when this replica first saw that value (its own clock). */
  activity: string | undefined;
  sharedSeenAtMs: number;
  /** INTENT as last seen, and when this replica first saw that value. */
  intent: string | undefined;
  intentSeenAtMs: number;
  inFlight: number;
  lastActiveMs: number | undefined;
  /** When this replica last started an activity write (or was told to hold off until). */
  lastWriteAtMs: number;
  writing: boolean;
  writeAgain: boolean;
  /** Requests waiting for the next activity write to land (see IdleScaler.confirm). */
  waiters: ((upAfterWrite: boolean) => void)[];
  attempting: boolean;
  /** No scale-down attempt before this (after a failed one); no writes before it after a denial. */
  nextAttemptAtMs: number;
  deniedUntilMs: number;
  deniedLogged: boolean;
  /** A failed activity write was logged at warn in the current streak of failures. */
  failLogged: boolean;
  /** When an activity write last failed for a reason other than RBAC (the API unreachable, a 5xx). */
  writeFailedAtMs: number;
}

/** The informer operations this needs (the deployments informer). */
export interface DeploymentSource<T extends DeploymentView> {
  list(): T[];
  onChange(listener: (type: 'added' | 'modified' | 'deleted', object: T) => void): () => void;
}

export interface TrackedFunctionsOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly defaultIdleMs: number;
  readonly minIdleMs: number;
  /** Another replica announced a scale-down of `t` (a new INTENT value not written by us). */
  readonly onForeignIntent: (t: TrackedFunction) => void;
}

/**
 * The functions labelled com.openfaas.scale.zero=true, kept in step with the deployments informer.
 * Lookups are one Map get: the warm path of every other function pays nothing more.
 */
export class TrackedFunctions {
  private readonly byKey = new Map<string, TrackedFunction>();
  private readonly unsubscribe: () => void;

  constructor(
    source: DeploymentSource<DeploymentView>,
    private readonly options: TrackedFunctionsOptions,
  ) {
    this.unsubscribe = source.onChange((type, deployment) => this.update(type, deployment));
    for (const deployment of source.list()) this.update('added', deployment);
  }

  get(key: string): TrackedFunction | undefined {
    return this.byKey.get(key);
  }

  values(): IterableIterator<TrackedFunction> {
    return this.byKey.values();
  }

  close(): void {
    this.unsubscribe();
  }

  private update(type: 'added' | 'modified' | 'deleted', deployment: DeploymentView): void {
    const meta = deployment.metadata;
    const name = meta?.name ?? '';
    const fn = functionRef(name, meta?.namespace ?? '');
    const tracked = this.byKey.get(fn.key);
    if (type === 'deleted' || !isFunction(deployment, name) || meta?.labels?.[SCALE_ZERO_LABEL] !== 'true') {
      // Requests still open keep their reference: their end() only touches the orphan.
      this.byKey.delete(fn.key);
      return;
    }
    const now = this.options.clock.now();
    const t = tracked ?? this.create(fn, now);
    const label = meta.labels[SCALE_ZERO_DURATION_LABEL];
    const idle = idleDurationMs(label, this.options.defaultIdleMs, this.options.minIdleMs);
    t.idleMs = idle.ms;
    if (idle.problem !== undefined && t.loggedLabel !== `${label}`) {
      t.loggedLabel = `${label}`;
      this.options.logger.warn(
        { event: 'idle.duration_label', fn: fn.key, label, problem: idle.problem, idleMs: idle.ms },
        idle.problem === 'invalid'
          ? `${SCALE_ZERO_DURATION_LABEL}=${label} is not a duration like 5m or 1h30m: using ${idle.ms} ms (WAKER_IDLE_TIMEOUT)`
          : `idle time ${label ?? '(WAKER_IDLE_TIMEOUT)'} is shorter than 4 activity write intervals: using ${idle.ms} ms`,
      );
    }
    const replicas = deployment.spec?.replicas ?? 1;
    // A wake (0 -> n, by anyone) restarts the idle clock like fresh activity would.
    if (tracked !== undefined && t.replicas === 0 && replicas > 0) t.sharedSeenAtMs = now;
    t.replicas = replicas;
    t.resourceVersion = meta.resourceVersion;
    const activity = meta.annotations?.[ACTIVITY_ANNOTATION];
    if (activity !== t.activity) {
      t.activity = activity;
      t.sharedSeenAtMs = now;
    }
    const intent = meta.annotations?.[INTENT_ANNOTATION];
    if (intent !== t.intent) {
      t.intent = intent;
      t.intentSeenAtMs = now;
      if (intent !== undefined && intentOwner(intent) !== this.options.replicaId) this.options.onForeignIntent(t);
    }
  }

  private create(fn: FunctionRef, now: number): TrackedFunction {
    const t: TrackedFunction = {
      fn,
      idleMs: this.options.defaultIdleMs,
      loggedLabel: undefined,
      replicas: 1,
      resourceVersion: undefined,
      activity: undefined,
      // First sight counts as activity: a replica that just started never scales down what it has
      // not watched for a whole idle time.
      sharedSeenAtMs: now,
      intent: undefined,
      intentSeenAtMs: now,
      inFlight: 0,
      lastActiveMs: undefined,
      lastWriteAtMs: Number.NEGATIVE_INFINITY,
      writing: false,
      writeAgain: false,
      waiters: [],
      attempting: false,
      nextAttemptAtMs: Number.NEGATIVE_INFINITY,
      deniedUntilMs: Number.NEGATIVE_INFINITY,
      deniedLogged: false,
      failLogged: false,
      writeFailedAtMs: Number.NEGATIVE_INFINITY,
    };
    this.byKey.set(fn.key, t);
    return t;
  }
}
