/**
 * When may this replica scale an idle function to zero? Pure: every input is a number the caller
 * read (its own clock, its own counters, what its informer showed), so tests drive it exactly.
 */

/** The label that opts a function in, and the one that sets its idle time. */
export const SCALE_ZERO_LABEL = 'com.openfaas.scale.zero';
export const SCALE_ZERO_DURATION_LABEL = 'com.openfaas.scale.zero-duration';

/**
 * The shortest idle time we accept, in activity write intervals. A replica serving traffic renews the
 * shared record about once per interval; a scale-down waits a fence of two intervals after its
 * intent; an idle time shorter than that would scale down between two renewals of a busy function.
 */
export const MIN_IDLE_INTERVALS = 4;
/** ...and never below this, whatever the interval. */
export const MIN_IDLE_FLOOR_MS = 1_000;

export function minIdleMs(writeIntervalMs: number): number {
  return Math.max(MIN_IDLE_FLOOR_MS, MIN_IDLE_INTERVALS * writeIntervalMs);
}

const GO_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A Go `time.ParseDuration` string (`90s`, `5m`, `1h30m`, `1.5h`, `300ms`) in milliseconds, or
 * undefined when it is not one, is negative, or is zero (a zero idle time is a mistake, not a wish).
 */
export function parseGoDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('-')) return undefined;
  const body = trimmed.startsWith('+') ? trimmed.slice(1) : trimmed;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < body.length) {
    part.lastIndex = at;
    const match = part.exec(body);
    if (match === null) return undefined;
    const [whole, amount = '', unit = ''] = match;
    total += Number(amount) * (GO_UNITS_MS[unit] ?? Number.NaN);
    at += whole.length;
  }
  return Number.isFinite(total) && total > 0 ? total : undefined;
}

export type IdleDurationProblem = 'invalid' | 'clamped';

/**
 * The idle time of one function: its zero-duration label, else the default. An invalid label falls
 * back to the default; anything below `minMs` is raised to it. `problem` says which, so the caller
 * can log it once per function.
 */
export function idleDurationMs(
  label: string | undefined,
  defaultMs: number,
  minMs: number,
): { readonly ms: number; readonly problem?: IdleDurationProblem } {
  const parsed = label === undefined ? defaultMs : parseGoDuration(label);
  if (parsed === undefined) return { ms: Math.max(defaultMs, minMs), problem: 'invalid' };
  if (parsed < minMs) return { ms: minMs, problem: 'clamped' };
  return { ms: parsed };
}

export interface IdleInput {
  readonly nowMs: number;
  readonly idleMs: number;
  /** Extra wait on the shared record: it may lag a replica's last activity by up to one write interval. */
  readonly slackMs: number;
  /** The Deployment's spec.replicas as the informer shows it. */
  readonly replicas: number;
  /** This replica's tracked requests still open, and requests it holds for the function. */
  readonly inFlight: number;
  readonly held: number;
  /** The last start or end of a request here, or undefined if this replica never served it. */
  readonly lastActiveMs: number | undefined;
  /**
   * When this replica first saw the current value of the shared activity record (or the Deployment,
   * or its wake). Our own clock, not the writer's: skew between replicas cannot make a record look
   * older than it is, only observation lag can make it look younger (the safe direction).
   */
  readonly sharedSeenAtMs: number;
  /** Another replica announced a scale-down that is still live: let it finish or fail. */
  readonly foreignIntent: boolean;
}

export type IdleDecision =
  | { readonly kind: 'idle'; readonly idleForMs: number }
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'busy'; readonly reason: 'in-flight' | 'held' | 'intent' }
  | { readonly kind: 'at-zero' };

/**
 * `idle`: scale down now (idle for `idleForMs`, measured from the latest activity known here). `wait`:
 * not before `untilMs`. `busy`: requests are open or held here, or another replica is deciding.
 * `at-zero`: nothing to do.
 */
export function decideIdle(input: IdleInput): IdleDecision {
  if (input.replicas === 0) return { kind: 'at-zero' };
  if (input.inFlight > 0) return { kind: 'busy', reason: 'in-flight' };
  if (input.held > 0) return { kind: 'busy', reason: 'held' };
  if (input.foreignIntent) return { kind: 'busy', reason: 'intent' };
  const ownDue = input.lastActiveMs === undefined ? Number.NEGATIVE_INFINITY : input.lastActiveMs + input.idleMs;
  const sharedDue = input.sharedSeenAtMs + input.idleMs + input.slackMs;
  const due = Math.max(ownDue, sharedDue);
  if (input.nowMs < due) return { kind: 'wait', untilMs: due };
  const latest = Math.max(input.lastActiveMs ?? Number.NEGATIVE_INFINITY, input.sharedSeenAtMs);
  return { kind: 'idle', idleForMs: input.nowMs - latest };
}

/** Whether this replica has recent activity of its own: it objects to another replica's scale-down. */
export function activeHere(input: Pick<IdleInput, 'nowMs' | 'idleMs' | 'inFlight' | 'held' | 'lastActiveMs'>): boolean {
  return input.inFlight > 0 || input.held > 0 || (input.lastActiveMs !== undefined && input.nowMs - input.lastActiveMs < input.idleMs);
}

/**
 * Whether activity should be written now: the record this replica sees is at least an interval old,
 * and this replica did not itself write (or try to) within the interval. At most one write per interval
 * per function per replica; while anyone serves traffic the record is never older than interval + lag.
 */
export function activityWriteDue(nowMs: number, sharedSeenAtMs: number, lastWriteAtMs: number, intervalMs: number): boolean {
  return nowMs - sharedSeenAtMs >= intervalMs && nowMs - lastWriteAtMs >= intervalMs;
}
