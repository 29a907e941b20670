import { fillUrlTemplate } from '../config/parse';
import { setMaxListeners } from 'node:events';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { abortReason, type Clock } from '../clock';
import { errorMessage, ShuttingDownError, toError, WakeTimeoutError } from '../errors';
import type { Logger } from '../logging';
import { isDnsLabel, type FunctionRef } from '../routing/function-ref';
import type { ReadyProber } from './ready-probe';

/**
 * Gap before the second probe. Most readiness gaps are endpoint propagation or a server binding its
 * port a moment after the process started: tens to a few hundred ms, so the first retries come fast.
 */
const PROBE_MIN_INTERVAL_MS = 25;
/**
 * The longest gap: a function that answers later than that is released at most this late, and a
 * function that is slow to start gets at most 4 probes a second per ready path (single flight: never
 * more for more waiters).
 */
const PROBE_MAX_INTERVAL_MS = 250;
const PROBE_BACKOFF_FACTOR = 1.5;
/** Probes of one origin share this many keep-alive connections (one loop per function+path sends one at a time). */
const PROBE_CONNECTIONS = 2;

/** Sends one probe and resolves with its HTTP status (the body is discarded); rejects on any network failure. */
export type ProbeSend = (url: URL, signal: AbortSignal) => Promise<number>;

export interface HttpReadyProberOptions {
  /** WAKER_READY_PROBE_URL, validated by parseUrlTemplate: `{name}`, `{namespace}`, `{path}`. */
  readonly urlTemplate: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bound on one probe, connection included (ms); a probe that takes longer counts as "not yet". */
  readonly timeoutMs: number;
  /** Injected for tests; by default an undici Agent (see createUndiciProbeSend). */
  readonly send?: ProbeSend;
  /** Used by the default sender instead of its own Agent (undici MockAgent in tests); not closed by close(). */
  readonly dispatcher?: Dispatcher;
}

/**
 * Milliseconds to wait after probe number `attempt` (1-based) failed: `minMs`, then ×1.5 per probe,
 * capped at `maxMs` (25, 38, 56, 84, 127, 190, 250, 250, ... by default). Pure. No deadline here:
 * a waiter leaving at its deadline ends the loop, sleep included.
 */
export function probeDelayMs(attempt: number, minMs = PROBE_MIN_INTERVAL_MS, maxMs = PROBE_MAX_INTERVAL_MS): number {
  return Math.round(Math.min(maxMs, minMs * PROBE_BACKOFF_FACTOR ** Math.max(0, attempt - 1)));
}

/**
 * The URL to probe for `fn` on `path`. `{name}` and `{namespace}` may sit in the host (plain
 * Kubernetes Services: `http://{name}.{namespace}.svc:8080{path}`), so the origin is checked against
 * the template filled with the same name and namespace and path `/`: whatever `path` holds, it can
 * never move the probe to another host, port or scheme. Dot segments (`..`, `%2e`) are refused, since
 * URL parsing would resolve them and climb out of the function's route (e.g. into `/system/`).
 * Throws Error when any of that fails.
 */
export function buildProbeUrl(template: string, fn: FunctionRef, path: string): URL {
  if (!isDnsLabel(fn.name) || !isDnsLabel(fn.namespace)) throw new Error(`ready probe: invalid function ${fn.key}`);
  if (!path.startsWith('/') || hasDotSegment(path)) throw new Error(`ready probe: invalid path for ${fn.key}`);
  const fill = (p: string): string => fillUrlTemplate(template, fn.name, fn.namespace, p);
  const reference = new URL(fill('/'));
  const url = new URL(fill(path));
  if (url.origin !== reference.origin) throw new Error(`ready probe: path of ${fn.key} would leave ${reference.origin}`);
  return url;
}

function hasDotSegment(path: string): boolean {
  const pathname = path.split('?', 1)[0] ?? '';
  return pathname.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
}

/** The default sender: GET through an undici dispatcher, body dumped so the connection is reused. */
export function createUndiciProbeSend(dispatcher: Dispatcher): ProbeSend {
  return async (url, signal) => {
    const res = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { 'user-agent': 'faas-waker-ready-probe', accept: '*/*' },
      signal,
    });
    // A ready path's body means nothing to us; a capped dump keeps a chatty one from costing memory.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    return res.statusCode;
  };
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface Loop {
  readonly fn: FunctionRef;
  readonly path: string;
  readonly url: URL;
  readonly startedAtMs: number;
  readonly waiters: Set<Waiter>;
  /** Aborted when the last waiter leaves or on close(): ends the current probe and sleep at once. */
  readonly stop: AbortController;
  /** Why the last waiter left: the loop's log line says it. */
  endReason: 'deadline' | 'abandoned' | 'closed' | undefined;
}

/**
 * A ReadyProber over HTTP: one loop per function and path, shared by every waiter; each waiter has
 * its own deadline and signal, and the loop ends when it answers 2xx or when no waiter is left.
 */
export function createHttpReadyProber(options: HttpReadyProberOptions): ReadyProber {
  const { clock, logger, timeoutMs } = options;
  const { send, ownAgent } = senderFor(options);
  const loops = new Map<string, Loop>();
  let closed = false;

  const leave = (loop: Loop, waiter: Waiter, reason: NonNullable<Loop['endReason']>): void => {
    if (!loop.waiters.delete(waiter)) return;
    if (loop.waiters.size > 0) return;
    loop.endReason = reason;
    loop.stop.abort(new Error(`ready probe of ${loop.fn.key} stopped: ${reason}`));
  };

  /** One probe, bounded by timeoutMs on the injected clock; resolves with the outcome, never rejects. */
  async function probeOnce(loop: Loop): Promise<{ ready: boolean; outcome: string }> {
    const attempt = new AbortController();
    const parent = loop.stop.signal;
    const onStop = (): void => attempt.abort(parent.reason);
    parent.addEventListener('abort', onStop, { once: true });
    const timer = new AbortController();
    let timedOut = false;
    const timeout = clock.sleep(timeoutMs, timer.signal).then(
      () => {
        timedOut = true;
        attempt.abort(new Error('ready probe timed out'));
      },
      () => undefined,
    );
    try {
      const status = await send(loop.url, attempt.signal);
      return { ready: status >= 200 && status < 300, outcome: String(status) };
    } catch (err) {
      return { ready: false, outcome: timedOut ? 'timeout' : describeFailure(err) };
    } finally {
      timer.abort();
      parent.removeEventListener('abort', onStop);
      await timeout;
    }
  }

  async function run(loop: Loop): Promise<void> {
    const fields = { fn: loop.fn.key, path: loop.path };
    let probes = 0;
    let last = '';
    try {
      while (!loop.stop.signal.aborted) {
        probes += 1;
        const { ready, outcome } = await probeOnce(loop);
        last = outcome;
        if (loop.stop.signal.aborted) break;
        logger.debug({ event: 'probe.attempt', ...fields, probe: probes, outcome }, 'ready probe answered');
        if (ready) {
          // Out of the map before anyone is released: a probe() from a continuation starts afresh.
          if (loops.get(loop.url.href) === loop) loops.delete(loop.url.href);
          logger.info(
            { event: 'probe.ready', ...fields, probes, waitedMs: Math.round(clock.now() - loop.startedAtMs) },
            `ready after ${probes} probe(s)`,
          );
          for (const waiter of loop.waiters) waiter.resolve();
          loop.waiters.clear();
          return;
        }
        // Waiters leave at their own deadlines, which ends the loop (stop aborts this sleep).
        await clock.sleep(probeDelayMs(probes), loop.stop.signal).catch(() => undefined);
      }
    } catch (err) {
      // Only a broken clock or logger gets here: nobody may wait on a loop that died.
      last = errorMessage(err);
      for (const waiter of loop.waiters) waiter.reject(err instanceof Error ? err : new Error(last));
      loop.waiters.clear();
    } finally {
      if (loops.get(loop.url.href) === loop) loops.delete(loop.url.href);
    }
    const reason = loop.endReason ?? 'failed';
    const log = reason === 'deadline' ? logger.warn.bind(logger) : logger.info.bind(logger);
    log(
      { event: 'probe.stopped', ...fields, probes, reason, last, waitedMs: Math.round(clock.now() - loop.startedAtMs) },
      `gave up after ${probes} probe(s): ${reason}`,
    );
  }

  function join(fn: FunctionRef, path: string, url: URL): Loop {
    const existing = loops.get(url.href);
    if (existing !== undefined && !existing.stop.signal.aborted) return existing;
    const stop = new AbortController();
    // Every probe and sleep listens on this signal; many in a row is normal, not a leak.
    setMaxListeners(0, stop.signal);
    const loop: Loop = { fn, path, url, startedAtMs: clock.now(), waiters: new Set(), stop, endReason: undefined };
    loops.set(url.href, loop);
    // Started on the next microtask, after the first waiter joined: a loop never runs with no waiter.
    queueMicrotask(() => void run(loop));
    return loop;
  }

  return {
    probe(fn, path, deadline, signal) {
      if (closed) return Promise.reject(new ShuttingDownError('faas-waker is shutting down'));
      if (signal.aborted) return Promise.reject(abortReason(signal));
      let url: URL;
      try {
        url = buildProbeUrl(options.urlTemplate, fn, path);
      } catch (err) {
        return Promise.reject(toError(err));
      }
      const startedAtMs = clock.now();
      if (startedAtMs >= deadline)
        return Promise.reject(new WakeTimeoutError(`${fn.key} did not answer its ready probe on ${path} in time`));
      return new Promise<void>((resolve, reject) => {
        const loop = join(fn, path, url);
        const own = new AbortController();
        const settle = (done: () => void): void => {
          own.abort();
          signal.removeEventListener('abort', onAbort);
          done();
        };
        const waiter: Waiter = {
          resolve: () => settle(resolve),
          reject: (err) => settle(() => reject(err)),
        };
        const onAbort = (): void => {
          leave(loop, waiter, 'abandoned');
          waiter.reject(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        loop.waiters.add(waiter);
        // This waiter's own deadline, on the injected clock: exact, and independent of the probe timeout.
        clock.sleep(deadline - startedAtMs, own.signal).then(
          () => {
            const waitedMs = Math.round(clock.now() - startedAtMs);
            leave(loop, waiter, 'deadline');
            waiter.reject(new WakeTimeoutError(`${fn.key} did not answer its ready probe on ${path} within ${waitedMs} ms`));
          },
          () => undefined,
        );
      });
    },
    close() {
      if (closed) return;
      closed = true;
      for (const loop of loops.values()) {
        const waiters = [...loop.waiters];
        loop.waiters.clear();
        loop.endReason = 'closed';
        loop.stop.abort(new ShuttingDownError('faas-waker is shutting down'));
        for (const waiter of waiters) waiter.reject(new ShuttingDownError('faas-waker is shutting down'));
      }
      loops.clear();
      if (ownAgent !== undefined) ownAgent.destroy().catch(() => undefined);
    },
  };
}

/** The injected sender, or the injected dispatcher, or an Agent of our own (which close() destroys). */
function senderFor(options: HttpReadyProberOptions): { send: ProbeSend; ownAgent: Agent | undefined } {
  if (options.send !== undefined) return { send: options.send, ownAgent: undefined };
  if (options.dispatcher !== undefined) return { send: createUndiciProbeSend(options.dispatcher), ownAgent: undefined };
  const ownAgent = new Agent({
    connections: PROBE_CONNECTIONS,
    pipelining: 1,
    // Probing is bursty (only during wakes): idle connections go soon, so per-function origins
    // (Kubernetes Services) do not pile up.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 4_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: options.timeoutMs },
  });
  return { send: createUndiciProbeSend(ownAgent), ownAgent };
}

function describeFailure(err: unknown): string {
  if (err instanceof undiciErrors.UndiciError) return err.code;
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.name;
  return 'error';
}
