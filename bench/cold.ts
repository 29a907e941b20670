/**
 * Cold paths through the real stack (Envoy → faas-waker → local provider → function processes):
 * bursts of N concurrent requests to one sleeping function with their delivery floor, single first
 * wakes, and many functions woken at once. One provider serves the whole scenario; every phase runs
 * on a new faas-waker (and Envoy) that has never woken a function (bench/cold-front.ts).
 * Wake overhead = moment the first byte reached the client − moment the provider saw the function
 * listening (`readyAtMs`); both are epoch ms from performance.timeOrigin + performance.now().
 */
import type { FunctionStats } from '../dev/provider/provider';
import type { ProviderProcess } from '../dev/stack/processes';
import { startColdProvider, startEnvoyAlone, startFront, type Front } from './cold-front';
import type { Driver } from './driver';
import { COLD_PATH_STATS, envoyStats } from './envoy-config';
import { measureFloor, type Floor, type FloorTarget } from './floor';
import { listenOverflows } from './procfs';
import type { ColdProfile, ManyProfile } from './profile';
import type { Scope } from './scope';
import { distribution, percentile, ratio, round } from './stats';
import { pidOf } from './warm';
import {
  answered,
  answers,
  diff,
  fixedPollingCalls,
  overhead,
  sleep,
  statsDelta,
  wakeReadyTimes,
  wakeReleaseMs,
  wakerProblems,
  type Overhead,
} from './wake-stats';

const NAMESPACE = 'openfaas-fn';

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
  /** faas-waker's warn/error log lines during the burst, grouped with a count (why requests failed, in its words). */
  readonly waker_problems: string[];
}

export interface BurstOutcome extends WakeCounts {
  readonly n: number;
  /** "first": no earlier wake by this faas-waker process (a new one); "learned": the poll schedule knows this function's start-up time. */
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
  /** Last first byte − the moment faas-waker started the release (wake.ready time − releaseMs). */
  readonly release_last_ms: number | null;
  /** Delivery floor of the same N through the same Envoy + faas-waker (bench/floor.ts), last answer. */
  readonly floor_last_ms: number | null;
  /** release_last_ms / floor_last_ms. */
  readonly release_to_floor_ratio: number | null;
}

/** One wake by a faas-waker process that had never woken a function. */
export interface FirstWake {
  /** `burst N=100`, `single #1`, ... */
  readonly label: string;
  readonly n: number;
  readonly ok: number;
  /** wake.ready detection − provider readyAtMs. */
  readonly detect_lag_ms: number | null;
  readonly status_calls: number;
  readonly fixed_100ms_status_calls: number | null;
  readonly startup_ms: number | null;
}

export interface ManyOutcome extends WakeCounts {
  readonly functions: number;
  readonly provider_calls: number;
  /** Fixed 100 ms polling's status calls plus one scale call per function. */
  readonly fixed_100ms_provider_calls: number | null;
  readonly startup_p50_ms: number | null;
  /** Last readyAtMs − first readyAtMs: how spread out the functions became ready (200 process start-ups on 2 cores). */
  readonly ready_spread_ms: number | null;
}

export interface ColdResult {
  readonly settings: {
    readonly startup_ms: number;
    readonly protocol: string;
    readonly waker_ready_ttl_ms: number;
    readonly waker_per_phase: string;
  };
  readonly bursts: BurstOutcome[];
  readonly floors: Floor[];
  readonly first_wakes: FirstWake[];
  /** Median (nearest rank) of first_wakes[].detect_lag_ms. */
  readonly first_wake_detect_lag_p50_ms: number | null;
  readonly many: ManyOutcome;
}

const burstName = (n: number): string => `burst-${n}`;
const singleName = (i: number): string => `first-${i}`;
const manyName = (i: number): string => `many-${i}`;
const key = (name: string): string => `${name}.${NAMESPACE}`;

export async function runCold(
  cold: ColdProfile,
  many: ManyProfile,
  wakerEnv: Record<string, string>,
  readyTtlMs: number,
  driver: Driver,
  scope: Scope,
  log: (line: string) => void,
): Promise<ColdResult> {
  const providerArgs = [
    ...cold.sizes.flatMap((n) => ['--function', `${burstName(n)}:${cold.startupMs}`]),
    ...Array.from({ length: cold.firstWakeSingles }, (_, i) => ['--function', `${singleName(i)}:${cold.startupMs}`]).flat(),
    '--functions-count',
    String(many.functions),
    '--functions-prefix',
    'many-',
    '--functions-delay',
    String(many.startupMs),
  ];
  const provider = await startColdProvider(providerArgs, scope);
  /** Runs `work` on a new faas-waker + Envoy, stopped afterwards whatever happens. */
  const onFreshFront = async <T>(work: (front: Front) => Promise<T>): Promise<T> => {
    const front = await startFront(provider, wakerEnv, scope);
    try {
      return await work(front);
    } finally {
      await front.stop();
    }
  };
  const firstWakes: FirstWake[] = [];

  for (let i = 0; i < cold.firstWakeSingles; i++) {
    const name = singleName(i);
    const single = await onFreshFront((front) => burst(provider, front, driver, name, 1, 0));
    await provider.hook(`/_/scale-to-zero/${name}`);
    firstWakes.push(firstWakeOf(`single #${i + 1}`, single));
    log(
      `first wake, single request #${i + 1}: detect lag ${single.detect_lag_p50_ms} ms, status calls ${single.status_calls} (fixed 100 ms: ${single.fixed_100ms_status_calls})`,
    );
  }

  const bursts: BurstOutcome[] = [];
  const floors: Floor[] = [];
  for (const n of cold.sizes) {
    const name = burstName(n);
    const { phase, floor } = await onFreshFront(async (front) => {
      const outcomes: BurstOutcome[] = [];
      for (let roundNo = 0; roundNo <= cold.learnedRounds; roundNo++) {
        if (roundNo > 0) await scaleToZero(provider, name, readyTtlMs);
        const outcome = await burst(provider, front, driver, name, n, roundNo);
        log(
          `cold burst n=${n} (${outcome.wake}): ok ${outcome.ok}/${n}, scale ${outcome.scale_calls}, status ${outcome.status_calls} (fixed 100 ms: ${outcome.fixed_100ms_status_calls}), overhead p50 ${outcome.wake_overhead_p50_ms} p99 ${outcome.wake_overhead_p99_ms} ms, last answer ${outcome.release_last_ms} ms after the release`,
        );
        outcomes.push(outcome);
      }
      // The function is running now: the same burst again is the delivery floor.
      return { phase: outcomes, floor: await floorOf(provider, front, driver, name, n, cold, scope) };
    });
    await provider.hook(`/_/scale-to-zero/${name}`);
    log(
      `delivery floor n=${n}: last answer ${floor.last_ms} ms, p50 ${floor.p50_ms} ms (Envoy alone: ${floor.alone_last_ms} / ${floor.alone_p50_ms} ms)`,
    );
    floors.push(floor);
    const first = phase[0];
    if (first !== undefined) firstWakes.push(firstWakeOf(`burst N=${n}`, first));
    for (const b of phase)
      bursts.push({ ...b, floor_last_ms: floor.last_ms, release_to_floor_ratio: ratio(b.release_last_ms, floor.last_ms) });
  }

  const manyOutcome = await onFreshFront((front) => wakeMany(provider, front, driver, many.functions));
  log(
    `many functions (${many.functions}): ok ${manyOutcome.ok}, provider calls ${manyOutcome.provider_calls} (fixed 100 ms: ${manyOutcome.fixed_100ms_provider_calls}), overhead p50 ${manyOutcome.wake_overhead_p50_ms} p99 ${manyOutcome.wake_overhead_p99_ms} ms`,
  );
  const lags = firstWakes.flatMap((w) => (w.detect_lag_ms === null ? [] : [w.detect_lag_ms])).sort((a, b) => a - b);
  return {
    settings: {
      startup_ms: cold.startupMs,
      protocol: 'HTTP/1.1, one connection per request',
      waker_ready_ttl_ms: readyTtlMs,
      waker_per_phase:
        'a new faas-waker and Envoy for each single first wake, each burst size (first wake, learned rounds, floor) and the many-functions wake',
    },
    bursts,
    floors,
    first_wakes: firstWakes,
    first_wake_detect_lag_p50_ms: lags.length === 0 ? null : round(percentile(lags, 50), 1),
    many: manyOutcome,
  };
}

async function floorOf(
  provider: ProviderProcess,
  front: Front,
  driver: Driver,
  name: string,
  n: number,
  cold: ColdProfile,
  scope: Scope,
): Promise<Floor> {
  const targets: FloorTarget[] = [{ path: 'ext_proc', envoy: front.envoy }];
  const alone = cold.floorAlone ? await startEnvoyAlone(provider, front.waker.grpcPort, scope) : null;
  try {
    if (alone !== null) targets.push({ path: 'envoy_alone', envoy: alone.envoy });
    const pids = alone === null ? front.pids : { ...front.pids, envoy_alone: pidOf(alone.envoy.child) };
    return await measureFloor(provider, key(name), `/function/${name}`, n, targets, cold.floorRuns, driver, pids);
  } finally {
    await alone?.stop();
  }
}

function firstWakeOf(label: string, b: BurstOutcome): FirstWake {
  return {
    label,
    n: b.n,
    ok: b.ok,
    detect_lag_ms: b.detect_lag_p50_ms,
    status_calls: b.status_calls,
    fixed_100ms_status_calls: b.fixed_100ms_status_calls,
    startup_ms: b.startup_ms,
  };
}

async function burst(
  provider: ProviderProcess,
  front: Front,
  driver: Driver,
  name: string,
  n: number,
  roundNo: number,
): Promise<BurstOutcome> {
  const before = fnStats(await provider.stats(), name);
  const envoyBefore = await envoyStats(front.envoy.adminPort, COLD_PATH_STATS);
  const overflowsBefore = listenOverflows();
  const since = Date.now();
  const { result, cpu } = await driver.burst(
    {
      mode: 'burst',
      origin: front.origin,
      paths: Array.from({ length: n }, () => `/function/${name}`),
      protocol: 'h1',
      streamsPerConnection: 1,
      timeoutMs: 60_000,
    },
    front.pids,
    { functions: front.pids.provider ?? 0 },
  );
  const after = fnStats(await provider.stats(), name);
  const envoyAfter = await envoyStats(front.envoy.adminPort, COLD_PATH_STATS);
  const overflows = diff(overflowsBefore, listenOverflows());
  const readyAt = after.readyAtMs;
  const detected = wakeReadyTimes(front.waker.logs(), since).get(key(name)) ?? null;
  const wakerRelease = wakeReleaseMs(front.waker.logs(), since).get(key(name)) ?? null;
  const startup = readyAt !== null && after.scaleRequestedAtMs !== null ? readyAt - after.scaleRequestedAtMs : null;
  const firstBytes = answered(result.requests).map((r) => r.firstByteAtMs ?? 0);
  const holds = result.requests.flatMap((r) => (r.firstByteAtMs === null ? [] : [r.firstByteAtMs - r.sentAtMs]));
  const lastFirstByte = firstBytes.length === 0 ? null : Math.max(...firstBytes);
  return {
    n,
    wake: roundNo === 0 ? 'first' : 'learned',
    round: roundNo,
    ...answers(result.requests),
    scale_calls: after.scaleCalls - before.scaleCalls,
    status_calls: after.statusCalls - before.statusCalls,
    startup_ms: startup === null ? null : round(startup),
    fixed_100ms_status_calls: fixedPollingCalls(startup),
    ...overhead(result.requests.map((r) => ({ request: r, readyAtMs: readyAt, detectedAtMs: detected }))),
    hold_p50_ms: round(distribution(holds).p50),
    waker_release_ms: wakerRelease,
    release_spread_ms: lastFirstByte === null ? null : round(lastFirstByte - Math.min(...firstBytes)),
    release_last_ms: lastFirstByte === null || detected === null ? null : round(lastFirstByte - detected, 1),
    floor_last_ms: null,
    release_to_floor_ratio: null,
    cpu_pct: cpu,
    envoy_stats: statsDelta(envoyBefore, envoyAfter),
    listen_overflows: overflows,
    waker_problems: wakerProblems(front.waker.logs(), since),
  };
}

async function wakeMany(provider: ProviderProcess, front: Front, driver: Driver, count: number): Promise<ManyOutcome> {
  const names = Array.from({ length: count }, (_, i) => manyName(i));
  const before = await provider.stats();
  const envoyBefore = await envoyStats(front.envoy.adminPort, COLD_PATH_STATS);
  const overflowsBefore = listenOverflows();
  const since = Date.now();
  const { result, cpu } = await driver.burst(
    {
      mode: 'burst',
      origin: front.origin,
      paths: names.map((nm) => `/function/${nm}`),
      protocol: 'h1',
      streamsPerConnection: 1,
      timeoutMs: 120_000,
    },
    front.pids,
    { functions: front.pids.provider ?? 0 },
  );
  const after = await provider.stats();
  const envoyAfter = await envoyStats(front.envoy.adminPort, COLD_PATH_STATS);
  const overflows = diff(overflowsBefore, listenOverflows());
  const detections = wakeReadyTimes(front.waker.logs(), since);
  let statusCalls = 0,
    scaleCalls = 0;
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
  const fixedStatus = startups.length === count ? startups.reduce((sum, s) => sum + (fixedPollingCalls(s) ?? 0), 0) : null;
  // Stop the 200 function processes now rather than leave them to the scenario's end.
  await provider.hook('/_/reset');
  return {
    functions: count,
    ...answers(result.requests),
    status_calls: statusCalls,
    scale_calls: scaleCalls,
    provider_calls: statusCalls + scaleCalls,
    fixed_100ms_provider_calls: fixedStatus === null ? null : fixedStatus + count,
    startup_p50_ms: round(startupP50),
    ready_spread_ms: readyTimes.length === 0 ? null : round(Math.max(...readyTimes) - Math.min(...readyTimes)),
    fixed_100ms_status_calls: fixedStatus,
    ...overhead(samples),
    cpu_pct: cpu,
    envoy_stats: statsDelta(envoyBefore, envoyAfter),
    listen_overflows: overflows,
    waker_problems: wakerProblems(front.waker.logs(), since),
  };
}

/** Scales the function to zero in the provider, then waits until faas-waker's "ready" entry has expired. */
async function scaleToZero(provider: ProviderProcess, name: string, readyTtlMs: number): Promise<void> {
  await provider.hook(`/_/scale-to-zero/${name}`);
  for (let i = 0; i < 100; i++) {
    const s = fnStats(await provider.stats(), name);
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
