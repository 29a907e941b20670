import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { ByteBudget } from './grpc-frames';

/** The limits a connection's state needs (a subset of H2ServerLimits). */
export interface ConnectionLimits {
  readonly maxConnectionBufferedBytes: number;
  readonly prefaceTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/**
 * Per connection: the buffer budget its streams share, the preface timer, and the idle timer. The
 * idle timer is armed when the last stream closes and re-checks on expiry instead of being cleared
 * and re-created per stream, so the warm path never touches a timer.
 */
export class SessionState<L extends ConnectionLimits = ConnectionLimits> {
  readonly budget: ByteBudget;
  private open = 0;
  private idleSince = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private prefaceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: Http2Session,
    readonly limits: L,
  ) {
    this.budget = new ByteBudget(limits.maxConnectionBufferedBytes);
    // The client's SETTINGS follow its preface; nghttp2 rejects a bad preface before that.
    this.prefaceTimer = setTimeout(() => session.destroy(), limits.prefaceTimeoutMs).unref();
    session.once('remoteSettings', () => this.clearPreface());
    this.armIdle(limits.idleTimeoutMs);
  }

  /** Counts `stream` as open until it closes (for streams whose close is not counted elsewhere). */
  streamOpened(stream: ServerHttp2Stream): void {
    this.opened();
    stream.once('close', () => this.closed());
  }

  opened(): void {
    this.open += 1;
  }

  closed(): void {
    this.open -= 1;
    if (this.open > 0) return;
    this.idleSince = performance.now();
    if (this.idleTimer === undefined) this.armIdle(this.limits.idleTimeoutMs);
  }

  dispose(): void {
    this.clearPreface();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearPreface(): void {
    if (this.prefaceTimer !== undefined) clearTimeout(this.prefaceTimer);
    this.prefaceTimer = undefined;
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => this.onIdleTimer(), ms).unref();
  }

  private onIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.open > 0 || this.session.closed || this.session.destroyed) return; // the next idle period re-arms it
    const idleMs = performance.now() - this.idleSince;
    if (idleMs >= this.limits.idleTimeoutMs)
      this.session.close(); // GOAWAY(NO_ERROR), then the socket closes
    else this.armIdle(this.limits.idleTimeoutMs - idleMs);
  }
}

/** A stream that must deliver its first message by a deadline. */
export interface AwaitingFirstMessage {
  readonly deadline: number;
  expire(): void;
}

/**
 * Streams still waiting for their first message. A stream leaves the set as soon as its message
 * arrives (or it closes), so the set holds only the few in flight and never retains finished
 * streams; one coarse sweep timer serves them all instead of a timer per stream. A silent stream
 * is ended between `timeoutMs` and 1.25 x `timeoutMs` after it opened.
 */
export class FirstMessageWatch {
  private readonly pending = new Set<AwaitingFirstMessage>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly timeoutMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.max(10, Math.ceil(timeoutMs / 4))).unref();
  }

  deadlineFromNow(): number {
    return performance.now() + this.timeoutMs;
  }

  add(item: AwaitingFirstMessage): void {
    this.pending.add(item);
  }

  settle(item: AwaitingFirstMessage): void {
    this.pending.delete(item);
  }

  stop(): void {
    clearInterval(this.timer);
    this.pending.clear();
  }

  private sweep(): void {
    if (this.pending.size === 0) return;
    const now = performance.now();
    for (const item of this.pending) {
      if (item.deadline > now) continue;
      this.pending.delete(item);
      item.expire();
    }
  }
}
