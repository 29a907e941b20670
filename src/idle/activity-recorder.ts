import type { Clock } from '../clock';
import type { Logger } from '../logging';
import type { DeploymentView } from '../provider/kubernetes/function-state';
import { SCALED_DOWN_ANNOTATION, type DeploymentWriter, type WriteResult } from './coordination';
import type { IdleObserver } from './idle-observer';
import type { TrackedFunction } from './tracked-functions';

export interface ActivityRecorderDeps {
  readonly writer: DeploymentWriter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly writeIntervalMs: number;
  readonly isWatching: () => boolean;
  readonly observer?: IdleObserver;
  readonly onWritten?: (deployment: DeploymentView) => void;
}

/** After an RBAC denial, writes for that function pause this long (one log line, no retry storm). */
export const DENIED_BACKOFF_MS = 60_000;

/**
 * This replica's activity writes (coordination.ts ACTIVITY), one at a time per function, and the
 * confirmations that wait for them (IdleScaler, point 4). Never throws; every failure is logged once
 * per streak and counted.
 */
export class ActivityRecorder {
  constructor(private readonly deps: ActivityRecorderDeps) {}

  /** Resolves once an activity write that started after this call has landed (see 4. above). */
  confirm(t: TrackedFunction): Promise<boolean> {
    const now = this.deps.clock.now();
    if (now < t.deniedUntilMs) return Promise.resolve(true);
    // The API server unreachable from here (watch down, a write just failed): nobody's intent can be
    // seen or voided, and a hold could only poll the same unreachable server. Let it through rather
    // than make every request wait out a write timeout; one write per interval keeps trying.
    if (!this.deps.isWatching() && now - t.writeFailedAtMs < this.deps.writeIntervalMs) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      t.waiters.push(resolve);
      this.write(t, true);
    });
  }

  /**
   * One activity write at a time per function. `force`: one more write follows the one in flight
   * (a waiter needs a write that starts after it arrived); otherwise a write already in flight is enough.
   */
  write(t: TrackedFunction, force = false): void {
    if (t.writing) {
      if (force) t.writeAgain = true;
      return;
    }
    t.writing = true;
    const now = this.deps.clock.now();
    t.lastWriteAtMs = now;
    const waiters = t.waiters.splice(0);
    void this.deps.writer.activity(t.fn, this.deps.replicaId, new Date(now)).then((result) => {
      t.writing = false;
      this.deps.observer?.activityWrite?.(result.kind);
      if (result.kind === 'ok') {
        this.deps.onWritten?.(result.object);
        // Our own write is the freshest record there is; the informer will show it shortly.
        t.sharedSeenAtMs = Math.max(t.sharedSeenAtMs, now);
        t.deniedLogged = false;
        t.failLogged = false;
        // Requests open here on a function at zero: a scale-down (ours or not) beat them. The protocol
        // prevents that for its own scale-downs unless a watch lags by more than the fence; say so.
        if (result.replicas === 0 && t.inFlight > 0)
          this.deps.logger.warn(
            {
              event: 'idle.scaled_under_traffic',
              fn: t.fn.key,
              inFlight: t.inFlight,
              by: result.object.metadata?.annotations?.[SCALED_DOWN_ANNOTATION],
            },
            'the function is at 0 replicas while requests to it are open here',
          );
      } else this.failed(t, result, 'activity');
      // Denied: nobody with this RBAC can scale it down either, so the request goes on (and a request
      // re-confirmed after its hold cannot loop on a write that never works). Another failure while the
      // watch is live (an intent is what asked for the write): false, and the waker checks the function
      // from the live store before the request goes anywhere. With the watch down too: true (see confirm).
      const up = result.kind === 'ok' ? result.replicas > 0 : result.kind === 'denied' || !this.deps.isWatching();
      if (result.kind === 'error') t.writeFailedAtMs = this.deps.clock.now();
      for (const waiter of waiters) waiter(up);
      if (t.writeAgain || t.waiters.length > 0) {
        t.writeAgain = false;
        if (this.deps.clock.now() < t.deniedUntilMs) for (const waiter of t.waiters.splice(0)) waiter(true);
        else this.write(t);
      }
    });
  }

  failed(t: TrackedFunction, result: Exclude<WriteResult, { kind: 'ok' }>, what: 'activity' | 'intent' | 'scale'): void {
    const now = this.deps.clock.now();
    if (result.kind === 'denied') {
      t.deniedUntilMs = now + DENIED_BACKOFF_MS;
      t.nextAttemptAtMs = now + DENIED_BACKOFF_MS;
      const fields = { event: 'idle.rbac_denied', fn: t.fn.key, write: what };
      const msg = `RBAC denied: cannot patch deployments.apps ${t.fn.name} in namespace ${t.fn.namespace} (idle scale-down needs "patch" on deployments; see deploy/kubernetes/kubernetes-provider/rbac.yaml); idle scale-down of it pauses ${DENIED_BACKOFF_MS / 1000} s`;
      if (t.deniedLogged) this.deps.logger.debug(fields, msg);
      else this.deps.logger.error(fields, msg);
      t.deniedLogged = true;
    } else if (what === 'activity') {
      const fields = { event: 'idle.activity_write_failed', fn: t.fn.key, result: result.kind };
      if (t.failLogged) this.deps.logger.debug(fields, 'still cannot record activity');
      else this.deps.logger.warn(fields, 'could not record activity (retried at most once per write interval)');
      t.failLogged = true;
    }
  }
}
