import type { Clock } from '../clock';
import type { Logger } from '../logging';
import type { FunctionPolicy } from '../policy/policy';
import type { ProviderClient } from '../provider/provider-client';
import type { FunctionStatus } from '../provider/provider-types';
import type { ReadinessCache } from './readiness-cache';
import type { ReadyProber } from './ready-probe';
import type { WakerObserver } from './waker-observer';

/** The Waker's public types (re-exported by waker.ts, which callers import). */

export interface WakerOptions {
  readonly holdTimeoutMs: number;
  readonly wakeTimeoutMs: number;
  readonly maxHeldPerFunction: number;
  readonly maxHeldTotal: number;
  readonly pollMinIntervalMs: number;
  readonly pollMaxIntervalMs: number;
  /** Bound on remembered start-up estimates (one per function that ever woke). */
  readonly maxLearned: number;
  /** Largest per-function hold (`faas-waker/hold-timeout`): Envoy's max_message_timeout minus the override margin. */
  readonly maxHoldTimeoutMs?: number;
  /** WAKER_READY_PROBE_PATH: probed for functions whose policy names no ready path. */
  readonly readyProbePath?: string;
}

export interface WakerDeps {
  readonly provider: ProviderClient;
  readonly cache: ReadinessCache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
  readonly observer?: WakerObserver;
  /** WAKER_READY_PROBE_URL: when set, a woken function with a ready path is probed before release. */
  readonly prober?: ReadyProber;
}

/** Per-hold settings from the stream handler (which knows the request and the override it sent). */
export interface HoldOptions {
  /** This request's hold budget, ms (default: the global hold timeout). */
  readonly budgetMs?: number;
  /** A status just read by `check`: a wake started for this hold uses it instead of a new status call. */
  readonly status?: FunctionStatus;
}

/**
 * For `holdChecked`, given the policy the status showed: `'stop'` ends the hold without a wake (the
 * function sleeps; the caller answers, e.g. a no-wake path or the waiting page), a number is the
 * budget (ms from the hold's start) for waiting on the wake.
 */
export type BeforeWake = (policy: FunctionPolicy) => 'stop' | number;

/** `holdChecked` stopped before waking: what the status showed. */
export interface Asleep {
  readonly asleep: CheckResult;
  readonly waitedMs: number;
}

/** What `check` found: the function's status, whether it can take requests now, and its policy. */
export interface CheckResult {
  readonly running: boolean;
  /** The status read; undefined when none was (a wake was under way): a wake then reads its own. */
  readonly status: FunctionStatus | undefined;
  readonly policy: FunctionPolicy;
}

export type Lookup = 'ready' | 'not-found' | 'miss';

/** What one wake found. */
export interface WakeOutcome {
  /** The function had no ready replica when the wake began: requests really waited for a start. */
  readonly coldStart: boolean;
  /** This wake sent the scale call (another replica or an autoscaler may have sent it instead). */
  readonly scaled: boolean;
  /** From the scale call (or the wake's start) to readiness; 0 when it was already ready. */
  readonly startupMs: number;
}

export interface HoldResult {
  readonly coldStart: boolean;
  readonly waitedMs: number;
}
