/**
 * Held capacity: `functions × perFunction` requests held at once (h2c to Envoy, many streams per
 * connection), while faas-waker's RSS (/proc/<pid>/status) and responsiveness are sampled from
 * outside every `sampleEveryMs`: the round-trip of GET /status on its admin port is an upper bound
 * of its event-loop delay. If faas-waker serves Prometheus metrics with
 * nodejs_eventloop_lag_p99_seconds, that figure over the holding window is recorded as well.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startStack, type Stack } from '../dev/stack/stack';
import { answers, diff, overhead, sleep, statsDelta, wakeReadyTimes, wakerProblems } from './wake-stats';
import type { Driver, Measured } from './driver';
import { accessLogToDevNull, COLD_PATH_STATS, envoyStats } from './envoy-config';
import type { BurstResult } from './loadgen-types';
import { listenOverflows, memoryMb, openFiles } from './procfs';
import type { HeldProfile } from './profile';
import type { Scope } from './scope';
import { distribution, round } from './stats';
import { pidOf } from './warm';

const NAMESPACE = 'openfaas-fn';
/** Samples count as "holding" when at least this share of the requests is held. */
const HOLDING_SHARE = 0.99;

interface Sample {
  readonly atMs: number;
  /** GET /status round trip, ms; null when it failed. */
  readonly statusMs: number | null;
  readonly heldTotal: number | null;
  readonly rssMb: number | null;
  readonly envoyRssMb: number | null;
  readonly providerFds: number | null;
}

interface LoopLag {
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly mean_ms: number;
}

export interface HeldResult {
  readonly n: number;
  readonly functions: number;
  readonly per_function: number;
  readonly protocol: string;
  readonly startup_ms: string;
  readonly ok: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  /** Most requests faas-waker reported held at once. */
  readonly max_held: number;
  /** How long at least 99 % of the requests were held at once (the sampled window). */
  readonly holding_window_ms: number;
  readonly rss_idle_mb: number | null;
  /** faas-waker VmRSS, max over the holding window. */
  readonly rss_mb: number | null;
  /** faas-waker VmHWM (peak RSS) at the end of the scenario, release included. */
  readonly rss_peak_mb: number | null;
  readonly envoy_rss_mb: number | null;
  /** p99 of GET /status round trips while holding (upper bound of event-loop delay), with the idle baseline. */
  readonly loop_delay_p99_ms: number | null;
  readonly loop_delay_max_ms: number | null;
  readonly loop_delay_idle_p99_ms: number | null;
  readonly status_samples: number;
  /** prom-client's monitorEventLoopDelay figures over the window (its idle floor is the ~10 ms sampling resolution); null without /metrics. */
  readonly metrics_loop_lag: LoopLag | null;
  readonly wake_overhead_p50_ms: number | null;
  readonly wake_overhead_p99_ms: number | null;
  readonly detect_lag_p50_ms: number | null;
  readonly release_p50_ms: number | null;
  readonly release_p99_ms: number | null;
  readonly time_to_hold_all_ms: number | null;
  readonly cpu_pct: Record<string, number>;
  /** Most open descriptors of the local provider during the run (its limit is the open-files limit). */
  readonly provider_fds_max: number | null;
  /** Envoy counters at the end (non-zero only). */
  readonly envoy_stats: Record<string, number>;
  /** Connections dropped machine-wide because an accept queue was full (TcpExt ListenOverflows) during the burst. */
  readonly listen_overflows: number | null;
  /** faas-waker's warn/error log lines during the burst, grouped with a count. */
  readonly waker_problems: string[];
}

export async function runHeld(
  profile: HeldProfile,
  wakerEnv: Record<string, string>,
  driver: Driver,
  scope: Scope,
  log: (line: string) => void,
): Promise<HeldResult> {
  const names = Array.from({ length: profile.functions }, (_, i) => `held-${i}`);
  const providerArgs = names.flatMap((name, i) => ['--function', `${name}:${profile.startupMs + i * profile.staggerMs}`]);
  const stack = await startStack({ providerArgs, wakerEnv, envoy: { patch: accessLogToDevNull, concurrency: 1 } });
  scope.add(() => stack.stop());
  const wakerPid = pidOf(stack.waker.child);
  const envoyPid = pidOf(stack.envoy.child);
  const providerPid = pidOf(stack.provider.child);
  const pids = { envoy: envoyPid, waker: wakerPid, provider: providerPid };
  const n = profile.functions * profile.perFunction;
  const admin = new Pool(`http://127.0.0.1:${stack.waker.adminPort}`, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  scope.add(() => admin.close());
  const sample = async (): Promise<Sample> => {
    const t0 = performance.now();
    let statusMs: number | null = null;
    let heldTotal: number | null = null;
    try {
      const res = await admin.request({ path: '/status', method: 'GET' });
      const body = (await res.body.json()) as { heldTotal?: unknown };
      statusMs = performance.now() - t0;
      heldTotal = typeof body.heldTotal === 'number' ? body.heldTotal : null;
    } catch {
      // counted as a missing sample
    }
    return {
      atMs: t0,
      statusMs,
      heldTotal,
      rssMb: memoryMb(wakerPid)?.rssMb ?? null,
      envoyRssMb: memoryMb(envoyPid)?.rssMb ?? null,
      providerFds: openFiles(providerPid),
    };
  };

  // Idle baseline: the same probe before anything is held.
  const idle: Sample[] = [];
  for (let i = 0; i < 3; i++) await sample(); // connection set-up and JIT warm-up, not counted
  for (let i = 0; i < 30; i++) {
    idle.push(await sample());
    await sleep(profile.sampleEveryMs);
  }

  // Round-robin order: every function's wake starts within the first `functions` requests.
  const paths = Array.from({ length: n }, (_, i) => `/function/${names[i % profile.functions] ?? ''}`);
  const timeoutMs = profile.startupMs + profile.functions * profile.staggerMs + 60_000;
  const overflowsBefore = listenOverflows();
  const sinceEpochMs = Date.now();
  const startedAt = performance.now();
  const running: Promise<Measured<BurstResult>> = driver.burst(
    {
      mode: 'burst',
      origin: `http://127.0.0.1:${stack.envoy.port}`,
      paths,
      protocol: 'h2',
      streamsPerConnection: profile.streamsPerConnection,
      timeoutMs,
    },
    pids,
    { functions: pids.provider },
  );
  let finished = false;
  const done = running.finally(() => {
    finished = true;
  });
  const samples: Sample[] = [];
  const lag = new LagWindow(stack);
  const firstReadyAt = startedAt + profile.startupMs;
  // Bounded: the burst itself is bounded by timeoutMs, and so is this loop.
  while (!finished && performance.now() - startedAt < timeoutMs + 30_000) {
    const s = await sample();
    samples.push(s);
    if (s.heldTotal !== null && s.heldTotal >= HOLDING_SHARE * n) {
      await lag.open();
      if (s.atMs >= firstReadyAt - 1_000) await lag.close();
    }
    await Promise.race([
      sleep(profile.sampleEveryMs),
      done.then(
        () => undefined,
        () => undefined,
      ),
    ]);
  }
  const { result, cpu } = await done;
  const stats = await stack.provider.stats();
  const end = memoryMb(wakerPid);
  const overflows = diff(overflowsBefore, listenOverflows());
  const envoyCounters = statsDelta({}, await envoyStats(stack.envoy.adminPort, COLD_PATH_STATS));
  log(`held: ${answers(result.requests).ok}/${n} ok`);

  const holding = samples.filter((s) => s.heldTotal !== null && s.heldTotal >= HOLDING_SHARE * n);
  const maxOf = (values: (number | null)[]): number | null => {
    const xs = values.filter((v): v is number => v !== null);
    return xs.length === 0 ? null : round(Math.max(...xs), 1);
  };
  const statusTimes = holding.flatMap((s) => (s.statusMs === null ? [] : [s.statusMs]));
  const idleTimes = idle.flatMap((s) => (s.statusMs === null ? [] : [s.statusMs]));
  const firstHolding = holding[0];
  const lastHolding = holding[holding.length - 1];
  const fnKey = (path: string): string => `${path.slice('/function/'.length)}.${NAMESPACE}`;
  const readyAt = (path: string): number | null => stats.functions[fnKey(path)]?.readyAtMs ?? null;
  const detections = wakeReadyTimes(stack.waker.logs(), sinceEpochMs);
  const wake = overhead(
    result.requests.map((request) => ({
      request,
      readyAtMs: readyAt(request.path),
      detectedAtMs: detections.get(fnKey(request.path)) ?? null,
    })),
  );
  return {
    n,
    functions: profile.functions,
    per_function: profile.perFunction,
    protocol: `h2c (prior knowledge) to Envoy, ${profile.streamsPerConnection} streams per connection, ${Math.ceil(n / profile.streamsPerConnection)} connections`,
    startup_ms: `${profile.startupMs} + i × ${profile.staggerMs} for function i`,
    ...answers(result.requests),
    max_held: Math.max(0, ...samples.map((s) => s.heldTotal ?? 0)),
    holding_window_ms: firstHolding && lastHolding ? Math.round(lastHolding.atMs - firstHolding.atMs) : 0,
    rss_idle_mb: maxOf(idle.map((s) => s.rssMb)),
    rss_mb: maxOf(holding.map((s) => s.rssMb)),
    rss_peak_mb: end === null ? null : round(end.peakMb, 1),
    envoy_rss_mb: maxOf(holding.map((s) => s.envoyRssMb)),
    loop_delay_p99_ms: round(distribution(statusTimes).p99),
    loop_delay_max_ms: round(distribution(statusTimes).max),
    loop_delay_idle_p99_ms: round(distribution(idleTimes).p99),
    status_samples: statusTimes.length,
    metrics_loop_lag: lag.result(),
    wake_overhead_p50_ms: wake.wake_overhead_p50_ms,
    wake_overhead_p99_ms: wake.wake_overhead_p99_ms,
    detect_lag_p50_ms: wake.detect_lag_p50_ms,
    release_p50_ms: wake.release_p50_ms,
    release_p99_ms: wake.release_p99_ms,
    time_to_hold_all_ms: firstHolding ? Math.round(firstHolding.atMs - startedAt) : null,
    cpu_pct: cpu,
    provider_fds_max: maxOf(samples.map((s) => s.providerFds)),
    envoy_stats: envoyCounters,
    listen_overflows: overflows,
    waker_problems: wakerProblems(stack.waker.logs(), sinceEpochMs),
  };
}

/** Reads prom-client's event-loop lag at the start and end of the holding window (each scrape resets its histogram). */
class LagWindow {
  private state: 'idle' | 'open' | 'closed' | 'unavailable' = 'idle';
  private lag: LoopLag | null = null;

  constructor(private readonly stack: Stack) {}

  async open(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = (await this.scrape()) === null ? 'unavailable' : 'open';
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.lag = await this.scrape();
  }

  result(): LoopLag | null {
    return this.lag;
  }

  private async scrape(): Promise<LoopLag | null> {
    try {
      const res = await this.stack.waker.admin('/metrics', { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (res.status !== 200) return null;
      const read = (name: string): number | null => {
        const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
        return match?.[1] === undefined ? null : Number(match[1]) * 1000;
      };
      const p99 = read('nodejs_eventloop_lag_p99_seconds');
      const max = read('nodejs_eventloop_lag_max_seconds');
      const mean = read('nodejs_eventloop_lag_mean_seconds');
      return p99 === null || max === null || mean === null
        ? null
        : { p99_ms: round(p99) ?? 0, max_ms: round(max) ?? 0, mean_ms: round(mean) ?? 0 };
    } catch {
      return null;
    }
  }
}
