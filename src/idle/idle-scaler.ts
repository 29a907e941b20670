import type { Clock } from '../clock';
import type { Logger } from '../logging';
import type { DeploymentView } from '../provider/kubernetes/function-state';
import type { FunctionRef } from '../routing/function-ref';
import type { ActivitySink, ActivityStart } from './activity';
import { ActivityRecorder } from './activity-recorder';
import { intentValue, type DeploymentWriter, type WriteResult } from './coordination';
import type { IdleObserver, ScaleDownResult } from './idle-observer';
import { activeHere, activityWriteDue, decideIdle, minIdleMs } from './idle-policy';
import { TrackedFunctions, type DeploymentSource, type TrackedFunction } from './tracked-functions';

export interface IdleScalerDeps {
  readonly deployments: DeploymentSource<DeploymentView>;
  readonly writer: DeploymentWriter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly writeIntervalMs: number;
  /** Bound of one API write (the client's timeout): how long an intent can stay in play after its fence. */
  readonly writeTimeoutMs: number;
  /** Requests this replica holds now, per function key (the waker's). */
  readonly held: () => ReadonlyMap<string, number>;
  /** Whether the deployments watch is connected: if not, intents may be unseen, so every start is confirmed. */
  readonly isWatching: () => boolean;
  readonly observer?: IdleObserver;
  /** Every Deployment one of our writes returned: the provider answers from it until the watch catches up. */
  readonly onWritten?: (deployment: DeploymentView) => void;
  /** Idle time of a function without a valid zero-duration label (WAKER_IDLE_TIMEOUT). */
  readonly defaultIdleMs: number;
}

/**
 * Idle scale-down on Kubernetes, coordinated with the other faas-waker replicas through the
 * function's Deployment only (annotations in coordination.ts). Per tracked function:
 *
 * 1. Activity: each start (and, while requests stay open or held, each interval) writes ACTIVITY when
 *    the record this replica sees is an interval old; at most one write per interval per replica.
 * 2. A replica that finds the function idle (idle-policy.ts) writes INTENT with a resourceVersion
 *    precondition (so it decided on the latest record), waits a fence of 2 write intervals, then writes
 *    replicas 0 on condition that INTENT is still its own. Every activity write deletes INTENT, so any
 *    activity recorded in between fails that condition: no scale-down.
 * 3. A replica that sees a foreign INTENT while it has requests open, held, or within the idle time
 *    writes ACTIVITY at once (which also deletes INTENT), so the scale write fails.
 * 4. While an intent is live (or the watch is down, so one may be unseen) a new request here waits for
 *    an activity write of its own that starts after it arrived (`confirmed`). The API server orders
 *    that write and the scale write on one object: if ours lands first, it deleted INTENT, the scale
 *    write's condition fails and the function stays up, so true; if the scale write landed first, our
 *    answer shows replicas 0, so false, and the request is held and the function woken. Either way it
 *    is served. (The one assumption: a connected watch shows an intent within the fence.)
 *    A failed write answers false while the watch is live (the waker then checks the function), true
 *    on an RBAC denial (no replica with this RBAC can write an intent or a scale either) or while the
 *    watch is down too (the API server unreachable from here: waiting could not help; see confirm).
 *
 * Why the fence closes the race for requests that started before the intent: a replica with requests
 * open renews ACTIVITY at least every interval (plus write latency), and the fence is two intervals,
 * so its write lands inside the fence and the scale write's condition fails even if it never saw the intent.
 * A request that ended earlier ended at least an idle time before the intent (the record it renewed
 * had to look idle + interval old), so nothing is cut short.
 */
export class IdleScaler implements ActivitySink {
  private readonly fenceMs: number;
  /** How long a seen intent stays in play: its fence, its scale write, and one write interval of slack. */
  private readonly intentLifeMs: number;
  private readonly tickMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly functions: TrackedFunctions;
  private readonly recorder: ActivityRecorder;

  constructor(private readonly deps: IdleScalerDeps) {
    this.fenceMs = 2 * deps.writeIntervalMs;
    this.intentLifeMs = this.fenceMs + deps.writeTimeoutMs + deps.writeIntervalMs;
    // Checks are cheap (no API call unless a write is due): tick at half an interval, at most 1 s apart.
    this.tickMs = Math.min(1_000, Math.max(50, deps.writeIntervalMs / 2));
    this.recorder = new ActivityRecorder(deps);
    this.functions = new TrackedFunctions(deps.deployments, {
      clock: deps.clock,
      logger: deps.logger,
      replicaId: deps.replicaId,
      defaultIdleMs: deps.defaultIdleMs,
      minIdleMs: minIdleMs(deps.writeIntervalMs),
      onForeignIntent: (t) => this.onForeignIntent(t),
    });
  }

  /** The warm path: one Map lookup for an untracked function. */
  started(fn: FunctionRef): ActivityStart | undefined {
    const t = this.functions.get(fn.key);
    if (t === undefined) return undefined;
    const now = this.deps.clock.now();
    t.inFlight++;
    t.lastActiveMs = now;
    this.deps.observer?.inFlightChanged?.(1);
    if (this.mustConfirm(t, now)) {
      // Rare (a scale-down under way, or the watch down): worth a line when debugging a slow request.
      this.deps.logger.debug({ event: 'idle.confirm', fn: fn.key, intent: t.intent }, 'request waits for its activity record');
      return new TrackedStart(t, this.deps.clock, this.deps.observer, this.recorder.confirm(t));
    }
    if (this.writeDue(t, now)) this.recorder.write(t);
    return new TrackedStart(t, this.deps.clock, this.deps.observer);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the loop and any fence wait: no timer is left behind. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('idle scaler stopped'));
    this.functions.close();
    await this.loop;
  }

  /** A foreign intent appeared: object at once if this replica has reason to (see 3. above). */
  private onForeignIntent(t: TrackedFunction): void {
    const now = this.deps.clock.now();
    const held = this.deps.held().get(t.fn.key) ?? 0;
    this.deps.logger.debug({ event: 'idle.intent_seen', fn: t.fn.key, intent: t.intent }, 'another replica announced a scale-down');
    if (!activeHere({ nowMs: now, idleMs: t.idleMs, inFlight: t.inFlight, held, lastActiveMs: t.lastActiveMs })) return;
    this.deps.logger.info(
      { event: 'idle.objection', fn: t.fn.key, intent: t.intent, inFlight: t.inFlight, held, replica: this.deps.replicaId },
      'another replica wants to scale this function down, but it is active here: recording activity',
    );
    this.recorder.write(t, true);
  }

  private intentLive(t: TrackedFunction, now: number): boolean {
    return t.intent !== undefined && t.replicas > 0 && now - t.intentSeenAtMs < this.intentLifeMs;
  }

  private mustConfirm(t: TrackedFunction, now: number): boolean {
    return t.attempting || this.intentLive(t, now) || !this.deps.isWatching();
  }

  private writeDue(t: TrackedFunction, now: number): boolean {
    return now >= t.deniedUntilMs && activityWriteDue(now, t.sharedSeenAtMs, t.lastWriteAtMs, this.deps.writeIntervalMs);
  }

  private async run(): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      try {
        await this.deps.clock.sleep(this.tickMs, signal);
      } catch {
        return;
      }
      const held = this.deps.held();
      for (const t of this.functions.values()) this.check(t, held);
    }
  }

  private check(t: TrackedFunction, held: ReadonlyMap<string, number>): void {
    if (t.attempting) return;
    const now = this.deps.clock.now();
    const heldHere = held.get(t.fn.key) ?? 0;
    // Requests open or held here keep the shared record fresh, interval by interval.
    if ((t.inFlight > 0 || heldHere > 0) && this.writeDue(t, now)) this.recorder.write(t);
    if (now < t.nextAttemptAtMs) return;
    const decision = decideIdle({
      nowMs: now,
      idleMs: t.idleMs,
      slackMs: this.deps.writeIntervalMs,
      replicas: t.replicas,
      inFlight: t.inFlight,
      held: heldHere,
      lastActiveMs: t.lastActiveMs,
      sharedSeenAtMs: t.sharedSeenAtMs,
      foreignIntent: this.intentLive(t, now),
    });
    if (decision.kind === 'idle') void this.attempt(t, decision.idleForMs);
  }

  private async attempt(t: TrackedFunction, idleForMs: number): Promise<void> {
    const { clock, writer, replicaId } = this.deps;
    const rv = t.resourceVersion;
    if (rv === undefined) return;
    t.attempting = true;
    const startedAt = clock.now();
    const at = new Date(startedAt);
    const replicas = t.replicas;
    try {
      const intent = await writer.intent(t.fn, replicaId, at, rv);
      if (intent.kind !== 'ok') {
        this.abandon(t, intent, 'intent');
        return;
      }
      this.deps.logger.debug(
        { event: 'idle.intent', fn: t.fn.key, replica: replicaId, fenceMs: this.fenceMs },
        'scale-down intent written',
      );
      await clock.sleep(this.fenceMs, this.stopping.signal);
      const held = this.deps.held().get(t.fn.key) ?? 0;
      if (t.inFlight > 0 || held > 0 || (t.lastActiveMs ?? Number.NEGATIVE_INFINITY) >= startedAt) {
        this.finish(t, 'aborted', `activity here during the fence (in flight ${t.inFlight}, held ${held})`);
        // Whatever happened here already wrote activity (which clears the intent); make sure of it.
        this.recorder.write(t, true);
        return;
      }
      const scaled = await writer.scaleToZero(t.fn, replicaId, new Date(clock.now()), intentValue(replicaId, at), replicas);
      if (scaled.kind !== 'ok') {
        this.abandon(t, scaled, 'scale');
        return;
      }
      const idleMs = idleForMs + (clock.now() - startedAt);
      t.replicas = 0;
      this.deps.onWritten?.(scaled.object);
      this.deps.observer?.scaleDown?.('scaled', idleMs);
      this.deps.logger.info(
        { event: 'idle.scaled_down', fn: t.fn.key, idleMs: Math.round(idleMs), idleTimeoutMs: t.idleMs, replica: replicaId },
        'idle function scaled to zero',
      );
    } catch {
      // Stopped during the fence: nothing was scaled; the intent expires on its own.
    } finally {
      t.attempting = false;
    }
  }

  private abandon(t: TrackedFunction, result: Exclude<WriteResult, { kind: 'ok' }>, step: 'intent' | 'scale'): void {
    const outcome: ScaleDownResult = result.kind === 'conflict' ? 'conflict' : result.kind === 'denied' ? 'denied' : 'error';
    if (result.kind === 'denied') this.recorder.failed(t, result, step);
    const detail = result.kind === 'error' ? result.message : result.kind;
    this.finish(
      t,
      outcome,
      result.kind === 'conflict'
        ? `the Deployment changed since the ${step === 'intent' ? 'decision' : 'intent'} (activity elsewhere)`
        : `${step} write: ${detail}`,
    );
  }

  private finish(t: TrackedFunction, result: ScaleDownResult, reason: string): void {
    // Not again before a fence has passed: a Deployment that keeps changing costs one try per fence.
    t.nextAttemptAtMs = Math.max(t.nextAttemptAtMs, this.deps.clock.now() + this.fenceMs);
    this.deps.observer?.scaleDown?.(result);
    if (result === 'denied') return; // logged once by writeFailed
    this.deps.logger.info(
      { event: 'idle.scale_down_aborted', fn: t.fn.key, result, reason, replica: this.deps.replicaId },
      `idle scale-down not done: ${reason}`,
    );
  }
}

/** One request let through for a tracked function: one object per request (the warm path of a tracked function). */
class TrackedStart implements ActivityStart {
  private ended = false;

  constructor(
    private readonly t: TrackedFunction,
    private readonly clock: Clock,
    private readonly observer: IdleObserver | undefined,
    readonly confirmed?: Promise<boolean>,
  ) {}

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.t.inFlight--;
    this.t.lastActiveMs = this.clock.now();
    this.observer?.inFlightChanged?.(-1);
  }
}
