/** The functions the local provider knows, their desired replicas, their child process and their
 * counters. Scaling follows faas-netes: desired replicas are set at once, availableReplicas follows
 * when the child is listening, which happens `startDelayMs` after a scale from zero. A gated function
 * (spec `name:gate`) starts its child at once but turns ready only when `release()` is called. */
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
  port: number | null;
  /** A gated child that listens before its release waits here. */
  gatedPort: number | null;
  released: boolean;
  readyAtMs: number | null;
  scaleRequestedAtMs: number | null;
  statusCalls: number;
  scaleCalls: number;
}

/** Everything about a function at zero replicas (after add, and after every stop); counters are kept. */
const AT_ZERO = Object.freeze({
  desiredReplicas: 0,
  startTimer: null,
  process: null,
  port: null,
  gatedPort: null,
  released: false,
  readyAtMs: null,
  scaleRequestedAtMs: null,
} satisfies Omit<FunctionState, 'spec' | 'statusCalls' | 'scaleCalls'>);

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
    this.functions.set(key, { spec, ...AT_ZERO, statusCalls: 0, scaleCalls: 0 });
    return true;
  }

  has(fn: FunctionAddress): boolean {
    return this.functions.has(functionKey(fn));
  }

  countStatusCall(fn: FunctionAddress): void {
    const state = this.functions.get(functionKey(fn));
    if (state) state.statusCalls += 1;
  }

  countScaleCall(fn: FunctionAddress): void {
    const state = this.functions.get(functionKey(fn));
    if (state) state.scaleCalls += 1;
  }

  status(fn: FunctionAddress): FunctionStatus | null {
    const state = this.functions.get(functionKey(fn));
    return state ? toStatus(state) : null;
  }

  list(namespace: string): FunctionStatus[] {
    return [...this.functions.values()].filter((s) => s.spec.namespace === namespace).map(toStatus);
  }

  /** Port of the listening child, or null when the function cannot serve right now. */
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
        statusCalls: s.statusCalls,
        scaleCalls: s.scaleCalls,
        replicas: s.desiredReplicas,
        availableReplicas: available(s),
        readyAtMs: s.readyAtMs,
        scaleRequestedAtMs: s.scaleRequestedAtMs,
        pid: s.process?.pid ?? null,
        ...(s.spec.gated === true ? { released: s.released } : {}),
      };
    }
    return out;
  }

  resetCounters(): void {
    for (const state of this.functions.values()) {
      state.statusCalls = 0;
      state.scaleCalls = 0;
    }
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
    state.startTimer = setTimeout(() => {
      state.startTimer = null;
      this.startProcess(state);
    }, delayMs);
  }

  private startProcess(state: FunctionState): void {
    const key = functionKey(state.spec);
    const proc: FunctionProcess = spawnFunction({
      entry: this.functionEntry,
      name: state.spec.name,
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
    this.log('ready', { function: functionKey(state.spec), pid: state.process?.pid ?? null, port, readyAtMs: state.readyAtMs });
  }

  private async stop(state: FunctionState): Promise<void> {
    if (state.startTimer) clearTimeout(state.startTimer);
    const proc = state.process;
    Object.assign(state, AT_ZERO);
    if (proc) await proc.stop();
  }
}

function available(state: FunctionState): number {
  return state.port === null ? 0 : state.desiredReplicas;
}

function toStatus(state: FunctionState): FunctionStatus {
  const { name, namespace, minScale } = state.spec;
  const labels: Record<string, string> = { faas_function: name };
  if (minScale !== null) labels['com.openfaas.scale.min'] = String(minScale);
  const status: FunctionStatus = { name, namespace, image: `local/${name}`, labels, annotations: {} };
  if (state.desiredReplicas > 0) status.replicas = state.desiredReplicas;
  const availableReplicas = available(state);
  if (availableReplicas > 0) status.availableReplicas = availableReplicas;
  return status;
}
