/**
 * Cold paths through the real stack (Envoy → faas-waker → local provider → function processes):
 * bursts of N concurrent requests to one sleeping function, and many functions woken at once.
 * Wake overhead = moment the first byte reached the client − moment the provider saw the function
 * listening (`readyAtMs`); both are epoch ms from performance.timeOrigin + performance.now().
 */
import { startStack, type Stack } from '../dev/stack/stack';
import type { FunctionStats } from '../dev/provider/provider';
import type { Driver } from './driver';
import { accessLogToDevNull, COLD_PATH_STATS, envoyStats } from './envoy-config';
import type { BurstRequest } from './loadgen-types';
import { listenOverflows } from './procfs';
import type { ColdProfile, ManyProfile } from './profile';
import type { Scope } from './scope';
import { distribution, round } from './stats';
import { pidOf } from './warm';

const NAMESPACE = 'openfaas-fn';
/** Polling interval OpenFaaS uses while it waits for a function (the comparison asked for by the issue). */
const FIXED_POLL_MS = 100;

export interface Overhead {
  readonly wake_overhead_p50_ms: number | null;
  readonly wake_overhead_p99_ms: number | null;
  readonly wake_overhead_max_ms: number | null;
  readonly wake_overhead_min_ms: number | null;
  /**
   * The overhead split in two with faas-waker's `wake.ready` log time (pino, ms precision):
   * detection = wake.ready − readyAtMs (the poll schedule's lag), release = first byte − wake.ready
   * (answering the held streams, Envoy → provider → function, and back). Null without that log line.
   */
  readonly detect_lag_p50_ms: number | null;
  readonly detect_lag_max_ms: number | null;
  readonly release_p50_ms: number | null;
  readonly release_p99_ms: number | null;
  /** The quickest release: the fixed part of the path; the rest of the spread is queueing. */
  readonly release_min_ms: number | null;
}

/** One answered request with its function's provider-side ready time and faas-waker's detection time. */
export interface WakeSample {
  readonly request: BurstRequest;
  readonly readyAtMs: number | null;
  readonly detectedAtMs: number | null;
}

/** What every cold scenario reports about its requests, the provider calls and the machine. */
interface WakeCounts extends Overhead {
  readonly ok: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  readonly scale_calls: number;
  readonly status_calls: number;
  /** What fixed 100 ms polling would cost for that start-up: 1 initial status check + ceil(startup / 100) polls. */
  readonly fixed_100ms_status_calls: number | null;
  readonly cpu_pct: Record<string, number>;
  /** Envoy counters that moved during the burst (retries, overflows, connect failures, ext_proc). */
  readonly envoy_stats: Record<string, number>;
  /** Connections dropped machine-wide because an accept queue was full (TcpExt ListenOverflows), during the burst. */
  readonly listen_overflows: number | null;
}

export interface BurstOutcome extends WakeCounts {
  readonly n: number;
  /** "first": no earlier wake of this function; "learned": the poll schedule knows its start-up time. */
  readonly wake: 'first' | 'learned';
  readonly round: number;
  /** Provider-side start-up: readyAtMs − scaleRequestedAtMs. */
  readonly startup_ms: number | null;
  /** Client-side wait: first byte − send, median. */
  readonly hold_p50_ms: number | null;
  /** faas-waker's share of the release: from readiness noticed to the last CONTINUE written (its `wake.ready` releaseMs). */
  readonly waker_release_ms: number | null;
  /** Last first byte − first first byte over the burst. */
  readonly release_spread_ms: number | null;
}

export interface ManyOutcome extends WakeCounts {
  readonly functions: number;
  readonly provider_calls: number;
  readonly startup_p50_ms: number | null;
  /** Last readyAtMs − first readyAtMs: how spread out the functions became ready (200 process start-ups on 2 cores). */
  readonly ready_spread_ms: number | null;
}

export interface ColdResult {
  readonly settings: { readonly startup_ms: number; readonly protocol: string; readonly waker_ready_ttl_ms: number };
  readonly bursts: BurstOutcome[];
  readonly many: ManyOutcome;
}

const burstName = (n: number): string => `burst-${n}`;
const manyName = (i: number): string => `many-${i}`;
const key = (name: string): string => `${name}.${NAMESPACE}`;

export async function runCold(cold: ColdProfile, many: ManyProfile, wakerEnv: Record<string, string>, readyTtlMs: number, driver: Driver, scope: Scope, log: (line: string) => void): Promise<ColdResult> {
  const providerArgs = [
    ...cold.sizes.flatMap((n) => ['--function', `${burstName(n)}:${cold.startupMs}`]),
    '--functions-count', String(many.functions), '--functions-prefix', 'many-', '--functions-delay', String(many.startupMs),
  ];
  const stack = await startStack({ providerArgs, wakerEnv, envoy: { patch: accessLogToDevNull, concurrency: 1 } });
  scope.add(() => stack.stop());
  const pids = { envoy: pidOf(stack.envoy.child), waker: pidOf(stack.waker.child), provider: pidOf(stack.provider.child) };

  const bursts: BurstOutcome[] = [];
  for (const n of cold.sizes) {
    for (let roundNo = 0; roundNo <= cold.learnedRounds; roundNo++) {
      if (roundNo > 0) await scaleToZero(stack, burstName(n), readyTtlMs);
      const outcome = await burst(stack, driver, pids, n, roundNo);
      log(`cold burst n=${n} (${outcome.wake}): ok ${outcome.ok}/${n}, scale ${outcome.scale_calls}, status ${outcome.status_calls} (fixed 100 ms: ${outcome.fixed_100ms_status_calls}), overhead p50 ${outcome.wake_overhead_p50_ms} p99 ${outcome.wake_overhead_p99_ms} ms`);
      bursts.push(outcome);
    }
  }
  const manyOutcome = await wakeMany(stack, driver, pids, many.functions);
  log(`many functions (${many.functions}): ok ${manyOutcome.ok}, provider calls ${manyOutcome.provider_calls}, overhead p50 ${manyOutcome.wake_overhead_p50_ms} p99 ${manyOutcome.wake_overhead_p99_ms} ms`);
  return { settings: { startup_ms: cold.startupMs, protocol: 'HTTP/1.1, one connection per request', waker_ready_ttl_ms: readyTtlMs }, bursts, many: manyOutcome };
}

async function burst(stack: Stack, driver: Driver, pids: Record<string, number>, n: number, roundNo: number): Promise<BurstOutcome> {
  const name = burstName(n);
  const before = fnStats(await stack.provider.stats(), name);
  const envoyBefore = await envoyStats(stack.envoy.adminPort, COLD_PATH_STATS);
  const overflowsBefore = listenOverflows();
  const origin = `http://127.0.0.1:${stack.envoy.port}`;
  const since = Date.now();
  const { result, cpu } = await driver.burst({ mode: 'burst', origin, paths: Array.from({ length: n }, () => `/function/${name}`), protocol: 'h1', streamsPerConnection: 1, timeoutMs: 60_000 }, pids, { functions: pids.provider ?? 0 });
  const after = fnStats(await stack.provider.stats(), name);
  const envoyAfter = await envoyStats(stack.envoy.adminPort, COLD_PATH_STATS);
  const overflows = diff(overflowsBefore, listenOverflows());
  const readyAt = after.readyAtMs;
  const detected = wakeReadyTimes(stack.waker.logs(), since).get(key(name)) ?? null;
  const wakerRelease = wakeReleaseMs(stack.waker.logs(), since).get(key(name)) ?? null;
  const startup = readyAt !== null && after.scaleRequestedAtMs !== null ? readyAt - after.scaleRequestedAtMs : null;
  const firstBytes = result.requests.flatMap((r) => (r.firstByteAtMs === null ? [] : [r.firstByteAtMs]));
  const holds = result.requests.flatMap((r) => (r.firstByteAtMs === null ? [] : [r.firstByteAtMs - r.sentAtMs]));
  return {
    n,
    wake: roundNo === 0 ? 'first' : 'learned',
    round: roundNo,
    ...answers(result.requests),
    scale_calls: after.scaleCalls - before.scaleCalls,
    status_calls: after.statusCalls - before.statusCalls,
    startup_ms: round3(startup),
    fixed_100ms_status_calls: fixedPollingCalls(startup),
    ...overhead(result.requests.map((r) => ({ request: r, readyAtMs: readyAt, detectedAtMs: detected }))),
    hold_p50_ms: round(distribution(holds).p50),
    waker_release_ms: wakerRelease,
    release_spread_ms: firstBytes.length === 0 ? null : round(Math.max(...firstBytes) - Math.min(...firstBytes)),
    cpu_pct: cpu,
    envoy_stats: statsDelta(envoyBefore, envoyAfter),
    listen_overflows: overflows,
  };
}

async function wakeMany(stack: Stack, driver: Driver, pids: Record<string, number>, count: number): Promise<ManyOutcome> {
  const names = Array.from({ length: count }, (_, i) => manyName(i));
  const before = await stack.provider.stats();
  const envoyBefore = await envoyStats(stack.envoy.adminPort, COLD_PATH_STATS);
  const overflowsBefore = listenOverflows();
  const origin = `http://127.0.0.1:${stack.envoy.port}`;
  const since = Date.now();
  const { result, cpu } = await driver.burst({ mode: 'burst', origin, paths: names.map((nm) => `/function/${nm}`), protocol: 'h1', streamsPerConnection: 1, timeoutMs: 120_000 }, pids, { functions: pids.provider ?? 0 });
  const after = await stack.provider.stats();
  const envoyAfter = await envoyStats(stack.envoy.adminPort, COLD_PATH_STATS);
  const overflows = diff(overflowsBefore, listenOverflows());
  const detections = wakeReadyTimes(stack.waker.logs(), since);
  let statusCalls = 0, scaleCalls = 0;
  const startups: number[] = [];
  const readyTimes: number[] = [];
  const samples = result.requests.map((request, i) => {
    const name = names[i] ?? '';
    const a = fnStats(after, name);
    const b = fnStats(before, name);
    statusCalls += a.statusCalls - b.statusCalls;
    scaleCalls += a.scaleCalls - b.scaleCalls;
    if (a.readyAtMs !== null) {
      readyTimes.push(a.readyAtMs);
      if (a.scaleRequestedAtMs !== null) startups.push(a.readyAtMs - a.scaleRequestedAtMs);
    }
    return { request, readyAtMs: a.readyAtMs, detectedAtMs: detections.get(key(name)) ?? null };
  });
  const startupP50 = distribution(startups).p50;
  // Stop the 200 function processes now rather than leave them to the stack's end.
  await stack.provider.hook('/_/reset');
  return {
    functions: count,
    ...answers(result.requests),
    status_calls: statusCalls,
    scale_calls: scaleCalls,
    provider_calls: statusCalls + scaleCalls,
    startup_p50_ms: round(startupP50),
    ready_spread_ms: readyTimes.length === 0 ? null : round(Math.max(...readyTimes) - Math.min(...readyTimes)),
    fixed_100ms_status_calls: startups.reduce((sum, s) => sum + (fixedPollingCalls(s) ?? 0), 0),
    ...overhead(samples),
    cpu_pct: cpu,
    envoy_stats: statsDelta(envoyBefore, envoyAfter),
    listen_overflows: overflows,
  };
}

/** Scales the function to zero in the provider, then waits until faas-waker's "ready" entry has expired. */
async function scaleToZero(stack: Stack, name: string, readyTtlMs: number): Promise<void> {
  await stack.provider.hook(`/_/scale-to-zero/${name}`);
  for (let i = 0; i < 100; i++) {
    const s = fnStats(await stack.provider.stats(), name);
    if (s.replicas === 0 && s.availableReplicas === 0) break;
    await sleep(50);
  }
  await sleep(readyTtlMs + 500);
}

function fnStats(stats: { functions: Record<string, FunctionStats> }, name: string): FunctionStats {
  const s = stats.functions[key(name)];
  if (s === undefined) throw new Error(`provider does not know ${key(name)}`);
  return s;
}

/** Counts answers by status; failures are grouped by their text (transport error or the start of the body) with a count each. */
export function answers(requests: readonly BurstRequest[]): { ok: number; status_counts: Record<string, number>; error_samples: string[] } {
  const statusCounts: Record<string, number> = {};
  const failures = new Map<string, number>();
  let ok = 0;
  for (const r of requests) {
    const k = r.error === null ? String(r.status) : 'error';
    statusCounts[k] = (statusCounts[k] ?? 0) + 1;
    if (r.status === 200 && r.error === null) ok += 1;
    else {
      const text = r.error ?? `${r.status} ${(r.detail ?? '').trim()}`;
      failures.set(text, (failures.get(text) ?? 0) + 1);
    }
  }
  const errorSamples = [...failures.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([text, count]) => `${count}× ${text}`);
  return { ok, status_counts: statusCounts, error_samples: errorSamples };
}

export function overhead(samples: readonly WakeSample[]): Overhead {
  const ok = samples.filter((x) => x.request.status === 200 && x.request.firstByteAtMs !== null);
  const values = ok.flatMap((x) => (x.readyAtMs === null ? [] : [(x.request.firstByteAtMs ?? 0) - x.readyAtMs]));
  const lags = ok.flatMap((x) => (x.readyAtMs === null || x.detectedAtMs === null ? [] : [x.detectedAtMs - x.readyAtMs]));
  const releases = ok.flatMap((x) => (x.detectedAtMs === null ? [] : [(x.request.firstByteAtMs ?? 0) - x.detectedAtMs]));
  const d = distribution(values);
  const lag = distribution(lags);
  const rel = distribution(releases);
  return {
    wake_overhead_p50_ms: round(d.p50), wake_overhead_p99_ms: round(d.p99), wake_overhead_max_ms: round(d.max), wake_overhead_min_ms: round(d.min),
    detect_lag_p50_ms: round(lag.p50, 1), detect_lag_max_ms: round(lag.max, 1), release_p50_ms: round(rel.p50, 1), release_p99_ms: round(rel.p99, 1), release_min_ms: round(rel.min, 1),
  };
}

/**
 * Epoch ms at which faas-waker noticed readiness, per function key, from its last `wake.ready` line
 * at or after `sinceMs`: the line is written once the held streams were answered, so its time minus
 * its `releaseMs` is the moment of detection (pino ISO time, ms precision).
 */
export function wakeReadyTimes(logs: readonly Record<string, unknown>[], sinceMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [fn, line] of wakeReadyLines(logs, sinceMs)) out.set(fn, line.loggedAtMs - line.releaseMs);
  return out;
}

/** faas-waker's own share of a release: resolving every waiter and writing every CONTINUE (ms), per function key. */
export function wakeReleaseMs(logs: readonly Record<string, unknown>[], sinceMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [fn, line] of wakeReadyLines(logs, sinceMs)) out.set(fn, line.releaseMs);
  return out;
}

function wakeReadyLines(logs: readonly Record<string, unknown>[], sinceMs: number): Map<string, { loggedAtMs: number; releaseMs: number }> {
  const out = new Map<string, { loggedAtMs: number; releaseMs: number }>();
  for (const line of logs) {
    if (line.event !== 'wake.ready' || typeof line.fn !== 'string' || typeof line.time !== 'string') continue;
    const t = Date.parse(line.time);
    const releaseMs = typeof line.releaseMs === 'number' ? line.releaseMs : 0;
    if (Number.isFinite(t) && t >= sinceMs) out.set(line.fn, { loggedAtMs: t, releaseMs });
  }
  return out;
}

export function diff(before: number | null, after: number | null): number | null {
  return before === null || after === null ? null : after - before;
}

/** Counters that changed between two readings (gauges show their change too). */
export function statsDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) {
    const diff = value - (before[name] ?? 0);
    if (diff !== 0) out[name] = diff;
  }
  return out;
}

export function fixedPollingCalls(startupMs: number | null): number | null {
  return startupMs === null ? null : 1 + Math.ceil(startupMs / FIXED_POLL_MS);
}

function round3(x: number | null): number | null {
  return x === null ? null : round(x);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
