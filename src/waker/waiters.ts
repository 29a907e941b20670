import type { Clock } from '../clock';
import { ClientGoneError, HoldTimeoutError } from '../errors';
import type { WakeOutcome } from './waker-types';

/**
 * Waiters resolved per event-loop turn. node:http2 hands written frames to the socket only when the
 * loop turns, so a burst released in one pass reaches Envoy only after its last CONTINUE is written:
 * 1,000 waiters at ~40 µs each kept the first answer ~40 ms back. In slices, the first slice's
 * answers leave while the rest are released, at the cost of one turn per slice (bench/release-cost.ts).
 */
export const RELEASE_SLICE = 64;
/** Released waiters' listeners removed per turn, once every waiter is resolved. */
const CLEANUP_SLICE = 512;

/** One shared abort reason: `abort()` without one builds a DOMException (and its stack) each time. */
const CANCELLED = new Error('deadline timer cancelled');

/** Runs `task` on a later event-loop turn (after I/O): setImmediate, injectable for tests. */
export type Defer = (task: () => void) => void;
const nextTurn: Defer = (task) => void setImmediate(task);

interface Waiter {
  settled: boolean;
  readonly deadlineMs: number;
  readonly budgetMs: number;
  readonly resolve: (outcome: WakeOutcome) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal;
  readonly onGone: () => void;
}

interface Release {
  readonly outcome: WakeOutcome;
  /** Arrival order. */
  readonly list: Waiter[];
  next: number;
  released: number;
  finished: boolean;
  readonly done: (released: number) => void;
}

/**
 * The requests held on one wake, first come first served. Each is answered exactly once: released
 * (resolved with the wake's outcome), or rejected when its budget ends (HoldTimeoutError), its client
 * leaves (ClientGoneError) or the wake fails. A release goes out in slices (RELEASE_SLICE per turn),
 * in arrival order; a client that leaves meanwhile is rejected, never released, and a budget that
 * ends meanwhile no longer counts (the function is ready: its answer is a turn or two away).
 *
 * Budgets share one clock sleep, for the earliest deadline: a timer, an AbortController and a
 * listener per held request cost ~10 µs each to cancel, 10 ms of event loop for a burst of 1,000.
 */
export class WaiterQueue {
  /** Unanswered waiters, in arrival order. */
  private readonly waiting = new Set<Waiter>();
  /** Waiters by deadline (ties in arrival order) from `head` on; answered ones are skipped when met. */
  private byDeadline: Waiter[] = [];
  private head = 0;
  private timer: { readonly atMs: number; readonly cancel: AbortController } | undefined;
  private expiring = false;
  private release: Release | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly key: string,
    private readonly defer: Defer = nextTurn,
  ) {}

  /** Waiters not yet answered (0 once a release has started). */
  get size(): number {
    return this.waiting.size;
  }

  /** Holds one request for at most `budgetMs`, or until `signal` aborts. */
  add(signal: AbortSignal, budgetMs: number): Promise<WakeOutcome> {
    return new Promise<WakeOutcome>((resolve, reject) => {
      const waiter: Waiter = {
        settled: false,
        deadlineMs: this.clock.now() + budgetMs,
        budgetMs,
        resolve,
        reject: (err) => {
          if (waiter.settled) return;
          waiter.settled = true;
          this.waiting.delete(waiter);
          signal.removeEventListener('abort', waiter.onGone);
          if (this.waiting.size === 0) this.disarm();
          if (!this.expiring) this.compact();
          reject(err);
        },
        signal,
        onGone: () => waiter.reject(new ClientGoneError(`client went away while ${this.key} was waking`)),
      };
      signal.addEventListener('abort', waiter.onGone, { once: true });
      if (this.release !== undefined) {
        this.release.list.push(waiter); // late: released in turn with the others
        return;
      }
      this.waiting.add(waiter);
      this.insertByDeadline(waiter);
    });
  }

  /**
   * Resolves every waiter with `outcome`, RELEASE_SLICE per turn in arrival order (the first slice
   * now); `done` gets the number released, in the turn of the last slice. Called at most once.
   */
  releaseAll(outcome: WakeOutcome, done: (released: number) => void): void {
    const release: Release = { outcome, list: [...this.waiting], next: 0, released: 0, finished: false, done };
    this.release = release;
    this.waiting.clear();
    this.byDeadline = [];
    this.head = 0;
    this.disarm();
    this.releaseSlice(release, RELEASE_SLICE);
  }

  /** Rejects every waiter still waiting (the wake failed, or the waker stops before a release). */
  rejectAll(err: Error): void {
    for (const waiter of [...this.waiting]) waiter.reject(err);
  }

  /**
   * Shutdown: a release under way finishes now (its function is ready: CONTINUE is the better answer
   * than a 503, and the only one it gave before releases were sliced); otherwise rejects with `err`.
   */
  stop(err: Error): void {
    if (this.release === undefined) this.rejectAll(err);
    else this.releaseSlice(this.release, Infinity);
  }

  private releaseSlice(release: Release, count: number): void {
    if (release.finished) return; // stop() finished it meanwhile
    const { list, outcome } = release;
    const end = Math.min(list.length, release.next + count);
    for (; release.next < end; release.next++) {
      const waiter = list[release.next] as Waiter;
      if (waiter.settled) continue; // its client left mid-release: already rejected
      waiter.settled = true;
      release.released++;
      // Its listener stays until the whole burst is out: removing it is not on the way to the socket.
      waiter.resolve(outcome);
    }
    if (release.next < list.length) {
      this.defer(() => this.releaseSlice(release, RELEASE_SLICE));
      return;
    }
    release.finished = true;
    release.done(release.released);
    this.defer(() => this.cleanUp(list, 0));
  }

  private cleanUp(list: Waiter[], from: number): void {
    const end = Math.min(list.length, from + CLEANUP_SLICE);
    for (let i = from; i < end; i++) {
      const waiter = list[i] as Waiter;
      waiter.signal.removeEventListener('abort', waiter.onGone);
    }
    if (end < list.length) this.defer(() => this.cleanUp(list, end));
  }

  /** Mostly an append: one function's holds share a budget and arrive in deadline order. */
  private insertByDeadline(waiter: Waiter): void {
    const list = this.byDeadline;
    let at = list.length;
    while (at > this.head && (list[at - 1] as Waiter).deadlineMs > waiter.deadlineMs) at--;
    if (at === list.length) list.push(waiter);
    else list.splice(at, 0, waiter);
    if (this.timer === undefined || waiter.deadlineMs < this.timer.atMs) this.arm(waiter.deadlineMs);
  }

  private arm(atMs: number): void {
    this.disarm();
    const cancel = new AbortController();
    this.timer = { atMs, cancel };
    this.clock.sleep(Math.max(0, atMs - this.clock.now()), cancel.signal).then(
      () => {
        if (this.timer?.cancel !== cancel) return;
        this.timer = undefined;
        this.expire();
      },
      () => undefined, // cancelled: re-armed, released, or nobody left
    );
  }

  private disarm(): void {
    this.timer?.cancel.abort(CANCELLED);
    this.timer = undefined;
  }

  /** The earliest deadline came: rejects every waiter whose budget has ended, and waits for the next. */
  private expire(): void {
    if (this.release !== undefined) return;
    const now = this.clock.now();
    const list = this.byDeadline;
    this.expiring = true;
    for (; this.head < list.length; this.head++) {
      const waiter = list[this.head] as Waiter;
      if (waiter.settled) continue;
      if (waiter.deadlineMs > now) break;
      waiter.reject(new HoldTimeoutError(`${this.key} not ready after ${waiter.budgetMs} ms`));
    }
    this.expiring = false;
    this.compact();
    while (this.head < this.byDeadline.length && (this.byDeadline[this.head] as Waiter).settled) this.head++;
    const next = this.byDeadline[this.head];
    if (next !== undefined) this.arm(next.deadlineMs);
  }

  /**
   * Drops answered waiters from the deadline list once they outnumber the waiting ones (amortised
   * O(1) per waiter): memory stays bounded by the requests held now, whoever leaves.
   */
  private compact(): void {
    const entries = this.byDeadline.length - this.head;
    if (entries <= 2 * this.waiting.size + 16) return;
    this.byDeadline = this.byDeadline.slice(this.head).filter((w) => !w.settled);
    this.head = 0;
  }
}
