/** The functions the local provider knows, their desired replicas, their child process and their
 * counters. Scaling follows faas-netes: desired replicas are set at once, availableReplicas follows
 * when the child is listening, which happens `startDelayMs` after a scale from zero. A gated function
 * (spec `name:gate`) starts its child at once but turns ready only when `release()` is called.
 * A function with `listen-delay=MS` reports availableReplicas at `startDelayMs` but its child binds the
 * announced port only MS later (plus its start-up): meanwhile the route's connections are refused. */
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { spawnFunction, type FunctionProcess } from './function-process';
import { functionKey, type FunctionAddress, type FunctionSpec } from './spec';

export type LogEvent = (event: string, fields: Record<string, unknown>) => void;

/** Wire shape of faas-provider's FunctionStatus; zero replica counts are omitted like Go's omitempty. */
export interface FunctionStatus {
  name: string;
  namespace: string;
  image: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  replicas?: number;
  availableReplicas?: number;
}

export interface FunctionStats {
  statusCalls: number;
  scaleCalls: number;
  replicas: number;
  availableReplicas: number;
  /** Epoch ms (fractional) when the child was seen listening; null while not ready. */
  readyAtMs: number | null;
  /** Epoch ms (fractional) when availableReplicas turned > 0: before readyAtMs with a listen delay, else equal. */
  availableAtMs: number | null;
  /** Requests to /function/NAME answered 503 at once (no replica). */
  noEndpoints: number;
  /** Requests to /function/NAME proxied to the function (whatever came back). */
  proxied: number;
  /** Proxied requests whose connection to the function failed (refused, reset): answered 500. */
  proxyFailures: number;
  /** proxyFailures by request method (a ready probe's GETs apart from a burst's POSTs). */
  proxyFailuresByMethod: Record<string, number>;
  /** Epoch ms (fractional) of the scale request that woke the function from zero; null at zero. */
  scaleRequestedAtMs: number | null;
  /** pid of the function's child process, null when none runs. */
  pid: number | null;
  /** Gated functions only: true once released since the last scale from zero. */
  released?: boolean;
}

interface FunctionState {
  readonly spec: FunctionSpec;
  desiredReplicas: number;
  startTimer: NodeJS.Timeout | null;
  process: FunctionProcess | null;
  /** The port the route sends requests to: known before the child listens on it with a listen delay. */
  port: number | null;
  /** A gated child that listens before its release waits here. */
  gatedPort: number | null;
  released: boolean;
  readyAtMs: number | null;
  availableAtMs: number | null;
  scaleRequestedAtMs: number | null;
  /** Bumped by every stop: an async step of an older start (port reservation) sees it and gives up. */
  generation: number;
  counters: Counters;
}

interface Counters {
  statusCalls: number;
  scaleCalls: number;
  noEndpoints: number;
  proxied: number;
  proxyFailures: number;
  proxyFailuresByMethod: Record<string, number>;
}

export type ProxyOutcome = 'no-endpoints' | 'proxied' | 'failed';

const zeroCounters = (): Counters => ({
  statusCalls: 0,
  scaleCalls: 0,
  noEndpoints: 0,
  proxied: 0,
  proxyFailures: 0,
  proxyFailuresByMethod: {},
});

/** Everything about a function at zero replicas (after add, and after every stop); counters are kept. */
const AT_ZERO = Object.freeze({
  desiredReplicas: 0,
  startTimer: null,
  process: null,
  port: null,
  gatedPort: null,
  released: false,
  readyAtMs: null,
  availableAtMs: null,
  scaleRequestedAtMs: null,
} satisfies Omit<FunctionState, 'spec' | 'generation' | 'counters'>);

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on this machine. */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

export class FunctionRegistry {
  private readonly functions = new Map<string, FunctionState>();

  constructor(
    private readonly functionEntry: string,
    private readonly log: LogEvent,
  ) {}

  /** Adds a function at zero replicas; returns false (and changes nothing) if it already exists. */
  add(spec: FunctionSpec): boolean {
    const key = functionKey(spec);
    if (this.functions.has(key)) return false;
    this.functions.set(key, { spec, ...AT_ZERO, generation: 0, counters: zeroCounters() });
    return true;
  }

  has(fn: FunctionAddress): boolean {
    return this.functions.has(functionKey(fn));
  }

  countStatusCall(fn: FunctionAddress): void {
    const state = this.functions.get(functionKey(fn));
    if (state) state.counters.statusCalls += 1;
  }

  countScaleCall(fn: FunctionAddress): void {
    const state = this.functions.get(functionKey(fn));
    if (state) state.counters.scaleCalls += 1;
  }

  /** Counts what the `/function/NAME` route did with one request (a failure is counted when it happens). */
  countProxy(fn: FunctionAddress, outcome: ProxyOutcome, method: string): void {
    const counters = this.functions.get(functionKey(fn))?.counters;
    if (counters === undefined) return;
    if (outcome === 'no-endpoints') counters.noEndpoints += 1;
    else if (outcome === 'proxied') counters.proxied += 1;
    else {
      counters.proxyFailures += 1;
      counters.proxyFailuresByMethod[method] = (counters.proxyFailuresByMethod[method] ?? 0) + 1;
    }
  }

  status(fn: FunctionAddress): FunctionStatus | null {
    const state = this.functions.get(functionKey(fn));
    return state ? toStatus(state) : null;
  }

  list(namespace: string): FunctionStatus[] {
    return [...this.functions.values()].filter((s) => s.spec.namespace === namespace).map(toStatus);
  }

  /** Port the route proxies to, or null when no replica is reported (the route then answers 503 at once).
   * With a listen delay the port is announced before the child listens on it: connections are refused. */
  readyPort(fn: FunctionAddress): number | null {
    return this.functions.get(functionKey(fn))?.port ?? null;
  }

  /** Returns false for an unknown function. Scaling up an already scaled function starts nothing new. */
  async scale(fn: FunctionAddress, replicas: number): Promise<boolean> {
    const state = this.functions.get(functionKey(fn));
    if (!state) return false;
    if (state.desiredReplicas !== replicas) this.log('scale', { function: functionKey(fn), from: state.desiredReplicas, to: replicas });
    if (replicas === 0) {
      await this.stop(state);
      return true;
    }
    if (state.desiredReplicas === 0) state.scaleRequestedAtMs = preciseNowMs();
    state.desiredReplicas = replicas;
    // Also restarts a function whose child died while it was meant to be up.
    // (startTimer also covers a listen-delay start until its child is spawned.)
    if (state.process === null && state.startTimer === null) this.scheduleStart(state);
    return true;
  }

  /**
   * Lets gated functions turn ready (at once if their child already listens, else when it does);
   * `fns` undefined = every gated function. Returns the keys released; unknown or ungated names are skipped.
   * The release lasts until the function is scaled to zero.
   */
  release(fns?: readonly FunctionAddress[]): string[] {
    const states = fns === undefined ? [...this.functions.values()] : fns.flatMap((fn) => this.functions.get(functionKey(fn)) ?? []);
    const released: string[] = [];
    for (const state of states) {
      if (state.spec.gated !== true) continue;
      state.released = true;
      released.push(functionKey(state.spec));
      if (state.gatedPort !== null) this.markReady(state, state.gatedPort);
    }
    return released;
  }

  stats(): Record<string, FunctionStats> {
    const out: Record<string, FunctionStats> = {};
    for (const [key, s] of this.functions) {
      out[key] = {
        statusCalls: s.counters.statusCalls,
        scaleCalls: s.counters.scaleCalls,
        replicas: s.desiredReplicas,
        availableReplicas: available(s),
        readyAtMs: s.readyAtMs,
        availableAtMs: s.availableAtMs,
        noEndpoints: s.counters.noEndpoints,
        proxied: s.counters.proxied,
        proxyFailures: s.counters.proxyFailures,
        proxyFailuresByMethod: { ...s.counters.proxyFailuresByMethod },
        scaleRequestedAtMs: s.scaleRequestedAtMs,
        pid: s.process?.pid ?? null,
        ...(s.spec.gated === true ? { released: s.released } : {}),
      };
    }
    return out;
  }

  resetCounters(): void {
    for (const state of this.functions.values()) state.counters = zeroCounters();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.functions.values()].map((s) => this.stop(s)));
  }

  killAllNow(): void {
    for (const state of this.functions.values()) state.process?.killNow();
  }

  private scheduleStart(state: FunctionState): void {
    const delayMs = state.spec.startDelayMs;
    if (delayMs === null) return; // "never": accepted, but availableReplicas stays 0.
    const listenDelayMs = state.spec.listenDelayMs;
    const generation = state.generation;
    state.startTimer = setTimeout(() => {
      if (listenDelayMs === undefined) {
        state.startTimer = null;
        this.startProcess(state, 0);
        return;
      }
      // startTimer stays set (fired) until the child is spawned, so a repeated scale starts nothing twice.
      reserveFreePort().then(
        (port) => {
          if (state.generation === generation) this.announce(state, port, listenDelayMs);
        },
        (err: unknown) => {
          if (state.generation !== generation) return;
          state.startTimer = null;
          this.log('exit', { function: functionKey(state.spec), code: null, signal: null, error: `no free port: ${String(err)}` });
        },
      );
    }, delayMs);
  }

  /** Reports the replica (on a port nobody listens on yet: connections are refused) and spawns the child later. */
  private announce(state: FunctionState, port: number, listenDelayMs: number): void {
    state.port = port;
    state.availableAtMs = preciseNowMs();
    this.log('available', { function: functionKey(state.spec), port, listenDelayMs, availableAtMs: state.availableAtMs });
    state.startTimer = setTimeout(() => {
      state.startTimer = null;
      this.startProcess(state, port);
    }, listenDelayMs);
  }

  private startProcess(state: FunctionState, port: number): void {
    const key = functionKey(state.spec);
    const proc: FunctionProcess = spawnFunction({
      entry: this.functionEntry,
      name: state.spec.name,
      port,
      onListening: (port) => {
        if (state.process !== proc) return; // stopped meanwhile
        if (state.spec.gated === true && !state.released) {
          state.gatedPort = port;
          this.log('gated', { function: key, pid: proc.pid, port });
          return;
        }
        this.markReady(state, port);
      },
      onExit: (detail) => {
        if (state.process !== proc) return; // expected exit after stop()
        state.process = null;
        state.port = null;
        state.gatedPort = null;
        state.readyAtMs = null;
        state.availableAtMs = null;
        this.log('exit', { function: key, ...detail });
      },
    });
    state.process = proc;
    this.log('start', { function: key, pid: proc.pid });
  }

  private markReady(state: FunctionState, port: number): void {
    state.gatedPort = null;
    state.port = port;
    state.readyAtMs = preciseNowMs();
    state.availableAtMs ??= state.readyAtMs;
    this.log('ready', { function: functionKey(state.spec), pid: state.process?.pid ?? null, port, readyAtMs: state.readyAtMs });
  }

  private async stop(state: FunctionState): Promise<void> {
    if (state.startTimer) clearTimeout(state.startTimer);
    const proc = state.process;
    Object.assign(state, AT_ZERO);
    state.generation += 1;
    if (proc) await proc.stop();
  }
}

/**
 * A loopback port free right now: bound by us, then released for the child to bind after its listen
 * delay. Until then connecting to it is refused, which is the point. (Another process could take it
 * meanwhile: the ephemeral range is large, and the child would then fail to bind and exit, loudly.)
 */
function reserveFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function available(state: FunctionState): number {
  return state.port === null ? 0 : state.desiredReplicas;
}

function toStatus(state: FunctionState): FunctionStatus {
  const { name, namespace, minScale } = state.spec;
  const labels: Record<string, string> = { faas_function: name };
  if (minScale !== null) labels['com.openfaas.scale.min'] = String(minScale);
  Object.assign(labels, state.spec.labels);
  const annotations = { ...state.spec.annotations };
  const status: FunctionStatus = { name, namespace, image: `local/${name}`, labels, annotations };
  if (state.desiredReplicas > 0) status.replicas = state.desiredReplicas;
  const availableReplicas = available(state);
  if (availableReplicas > 0) status.availableReplicas = availableReplicas;
  return status;
}
