/**
 * Warm path overhead: three Envoys side by side on the same config and the same upstream.
 * A = envoy/envoy.yaml (ext_proc → faas-waker), C = the same config with the `faas_waker` cluster
 * pointing at the Go no-op ext_proc server (bench/noop-extproc: the floor of any ext_proc server),
 * B = the same config without the ext_proc filter. The upstream is the demo function process itself,
 * reached directly: the local provider's proxy hop would add two Node processes' CPU per request on a
 * 2-core machine, the same for every target, and so hide the cost we want to see. faas-waker still
 * asks the local provider about the function, where it is warm.
 */
import { join } from 'node:path';
import { jsonLine, startChild, type Child } from '../dev/stack/child';
import { startEnvoy, type EnvoyProcess } from '../dev/stack/envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from '../dev/stack/processes';
import { repoRoot } from '../dev/stack/repo';
import type { Driver, Measured } from './driver';
import { accessLogToDevNull, envoyStats, withoutExtProc } from './envoy-config';
import type { BurstSpec, LoadResult, LoadSpec } from './loadgen-types';
import { startNoopExtProc } from './noop';
import type { WarmProfile } from './profile';
import type { Scope } from './scope';
import { ratio, round } from './stats';
import { failed, merge, perRequest, usPerRequest, type WarmRun } from './warm-run';

export type { WarmRun } from './warm-run';

const FUNCTION = 'warm';
const PATH = `/function/${FUNCTION}`;
const TIMEOUT_MS = 10_000;
const MAX_IN_FLIGHT = 2_000;
const OPEN_LOOP_CONNECTIONS = 64;

/** `with` = A (faas-waker), `noop` = C (the Go no-op server), `without` = B (Envoy alone). */
export type Side = 'with' | 'noop' | 'without';

/**
 * Orders in which the three targets run, used in turn (every permutation once per 6 sets): each
 * target runs first, second and last equally often, and A runs before C as often as after it, so
 * slow drift of the machine does not favour one of them.
 */
const ORDERS: readonly (readonly Side[])[] = [
  ['with', 'noop', 'without'],
  ['without', 'noop', 'with'],
  ['noop', 'with', 'without'],
  ['without', 'with', 'noop'],
  ['with', 'without', 'noop'],
  ['noop', 'without', 'with'],
];

/** CPU of the ext_proc processor alone per answered request: faas-waker (in A) vs the no-op server (in C). */
export interface ProcessorCpu {
  readonly waker_us: number | null;
  readonly noop_us: number | null;
  /** waker_us / noop_us. */
  readonly ratio: number | null;
}

export interface WarmRate {
  readonly rps: number;
  readonly with: WarmRun;
  readonly noop: WarmRun;
  readonly without: WarmRun;
  /** A − B. */
  readonly added_p50_ms: number | null;
  readonly added_p90_ms: number | null;
  readonly added_p99_ms: number | null;
  readonly p50_ratio: number | null;
  readonly p99_ratio: number | null;
  /** C − B: what any ext_proc server adds (Envoy's ext_proc client side plus a minimal server). */
  readonly noop_added_p50_ms: number | null;
  readonly noop_added_p90_ms: number | null;
  readonly noop_added_p99_ms: number | null;
  /** A − C = (A − B) − (C − B): what faas-waker adds beyond a no-op ext_proc server. */
  readonly waker_minus_noop_p50_ms: number | null;
  readonly waker_minus_noop_p99_ms: number | null;
  /** At a fixed rate (coarse: CPU is read in 10 ms ticks); the saturation figure is the one to compare. */
  readonly processor_cpu_us_per_request: ProcessorCpu;
}

export interface WarmResult {
  readonly upstream: string;
  readonly config_with: string;
  readonly config_noop: string;
  readonly config_without: string;
  readonly noop_server: { readonly implementation: string; readonly gomaxprocs: number | null };
  readonly method: string;
  readonly rates: WarmRate[];
  readonly saturation: {
    readonly connections: number;
    readonly with: WarmRun;
    readonly noop: WarmRun;
    readonly without: WarmRun;
    /** CPU time per answered request at saturation, µs, per process (where the added cost goes). */
    readonly cpu_us_per_request: Record<Side, Record<string, number>>;
    readonly processor_cpu_us_per_request: ProcessorCpu;
  };
  /** Saturation throughput A/B (faas-waker / Envoy alone). */
  readonly throughput_ratio: number | null;
  /** Saturation throughput C/B (no-op / Envoy alone). */
  readonly throughput_ratio_noop: number | null;
  /** Saturation throughput A/C (faas-waker / no-op). */
  readonly throughput_ratio_waker_noop: number | null;
  /** Failed requests (errors + skipped) over every measured run, per target. */
  readonly errors: Record<Side, number>;
  readonly envoy_ext_proc_stats: Record<string, number>;
  readonly envoy_ext_proc_stats_noop: Record<string, number>;
  readonly provider_status_calls: number;
}

interface WarmStack {
  readonly envoys: Record<Side, EnvoyProcess>;
  readonly waker: WakerProcess;
  readonly provider: ProviderProcess;
  readonly gomaxprocs: number | null;
  readonly pids: Record<string, number>;
}

type Spec = Exclude<LoadSpec, BurstSpec>;

export async function runWarm(
  profile: WarmProfile,
  wakerEnv: Record<string, string>,
  driver: Driver,
  scope: Scope,
  log: (line: string) => void,
): Promise<WarmResult> {
  const stack = await startWarmStack(wakerEnv, scope);
  const origin = (side: Side): string => `http://127.0.0.1:${stack.envoys[side].port}`;
  let set = 0;
  /** Runs `repeats` sets of the three targets, each set in the next order of ORDERS. */
  const measure = async (repeats: number, spec: (side: Side) => Spec): Promise<Record<Side, WarmRun>> => {
    const runs: Record<Side, Measured<LoadResult>[]> = { with: [], noop: [], without: [] };
    for (let rep = 0; rep < repeats; rep++) {
      for (const side of ORDERS[set % ORDERS.length] ?? [])
        runs[side].push(await driver.load(spec(side), stack.pids, { functions: stack.pids.provider ?? 0 }));
      set += 1;
    }
    return { with: merge(runs.with), noop: merge(runs.noop), without: merge(runs.without) };
  };

  const rates: WarmRate[] = [];
  for (const rps of profile.rates) {
    const runs = await measure(profile.repeats, (side) => ({
      mode: 'rate',
      origin: origin(side),
      path: PATH,
      rps,
      warmupMs: profile.warmupMs,
      durationMs: profile.durationMs,
      connections: OPEN_LOOP_CONNECTIONS,
      maxInFlight: MAX_IN_FLIGHT,
      timeoutMs: TIMEOUT_MS,
    }));
    const rate = compareRate(rps, runs);
    log(
      `warm ${rps} req/s: p50 ${rate.with.p50_ms} / ${rate.noop.p50_ms} / ${rate.without.p50_ms} ms, p99 ${rate.with.p99_ms} / ${rate.noop.p99_ms} / ${rate.without.p99_ms} ms (faas-waker / no-op / Envoy alone)`,
    );
    rates.push(rate);
  }

  const sat = profile.saturation;
  const satRuns = await measure(sat.repeats, (side) => ({
    mode: 'closed',
    origin: origin(side),
    path: PATH,
    connections: sat.connections,
    warmupMs: sat.warmupMs,
    durationMs: sat.durationMs,
    timeoutMs: TIMEOUT_MS,
  }));
  const saturation = {
    connections: sat.connections,
    ...satRuns,
    cpu_us_per_request: { with: perRequest(satRuns.with), noop: perRequest(satRuns.noop), without: perRequest(satRuns.without) },
    processor_cpu_us_per_request: processorCpu(satRuns),
  };
  log(
    `warm saturation: ${saturation.with.achieved_rps} / ${saturation.noop.achieved_rps} / ${saturation.without.achieved_rps} req/s; processor CPU ${saturation.processor_cpu_us_per_request.waker_us} vs ${saturation.processor_cpu_us_per_request.noop_us} µs per request (faas-waker / no-op)`,
  );

  const errors: Record<Side, number> = { with: 0, noop: 0, without: 0 };
  for (const runs of [...rates, satRuns]) for (const side of Object.keys(errors) as Side[]) errors[side] += failed(runs[side]);
  const providerStats = await stack.provider.stats();
  return {
    upstream: 'demo function process (dev/function) reached directly by every Envoy, keep-alive',
    config_with: 'envoy/envoy.yaml as shipped (access log written to /dev/null), --concurrency 1',
    config_noop: 'the same config, its faas_waker cluster pointing at the Go no-op ext_proc server',
    config_without: 'the same config with the envoy.filters.http.ext_proc filter removed',
    noop_server: {
      implementation:
        'bench/noop-extproc: Go, google.golang.org/grpc v1.85.0, go-control-plane/envoy v1.40.0; empty HeadersResponse (CONTINUE) + grpc.health.v1',
      gomaxprocs: stack.gomaxprocs,
    },
    method: `open loop: request i sent at start + i/rate, latency from that scheduled time to the last body byte (no coordinated omission), up to ${OPEN_LOOP_CONNECTIONS} keep-alive HTTP/1.1 connections; saturation: closed loop, ${sat.connections} connections; the order of A, C and B goes through all 6 permutations in turn`,
    rates,
    saturation,
    throughput_ratio: ratio(satRuns.with.achieved_rps, satRuns.without.achieved_rps),
    throughput_ratio_noop: ratio(satRuns.noop.achieved_rps, satRuns.without.achieved_rps),
    throughput_ratio_waker_noop: ratio(satRuns.with.achieved_rps, satRuns.noop.achieved_rps),
    errors,
    envoy_ext_proc_stats: await envoyStats(stack.envoys.with.adminPort, 'ext_proc'),
    envoy_ext_proc_stats_noop: await envoyStats(stack.envoys.noop.adminPort, 'ext_proc'),
    provider_status_calls: providerStats.totals.statusCalls,
  };
}

async function startWarmStack(wakerEnv: Record<string, string>, scope: Scope): Promise<WarmStack> {
  const provider = await startProvider(['--function', `${FUNCTION}:0`]);
  scope.add(() => provider.stop());
  const waker = await startWaker({ WAKER_PROVIDER_URL: provider.url, ...wakerEnv });
  scope.add(() => waker.stop('SIGKILL'));
  const noop = await startNoopExtProc(scope);
  const upstream = await startUpstream(scope);
  const common = { gatewayPort: upstream.port, concurrency: 1 };
  const withEnvoy = await startEnvoy({ ...common, grpcPort: waker.grpcPort, patch: accessLogToDevNull });
  scope.add(() => withEnvoy.stop());
  const noopEnvoy = await startEnvoy({ ...common, grpcPort: noop.grpcPort, patch: accessLogToDevNull });
  scope.add(() => noopEnvoy.stop());
  const withoutEnvoy = await startEnvoy({
    ...common,
    grpcPort: waker.grpcPort, // unused: the filter that would call it is gone
    patch: (doc) => {
      accessLogToDevNull(doc);
      withoutExtProc(doc);
    },
  });
  scope.add(() => withoutEnvoy.stop());
  // The first request through A wakes the function in the provider (start-up 0 ms); then all must answer 200.
  for (const envoy of [withEnvoy, noopEnvoy, withoutEnvoy]) {
    const res = await fetch(`http://127.0.0.1:${envoy.port}${PATH}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warm-up request through Envoy :${envoy.port} answered ${res.status}`);
  }
  const pids = {
    envoy_with: pidOf(withEnvoy.child),
    envoy_noop: pidOf(noopEnvoy.child),
    envoy_without: pidOf(withoutEnvoy.child),
    waker: pidOf(waker.child),
    noop: pidOf(noop.child),
    upstream: pidOf(upstream.child),
    provider: pidOf(provider.child),
  };
  return { envoys: { with: withEnvoy, noop: noopEnvoy, without: withoutEnvoy }, waker, provider, gomaxprocs: noop.gomaxprocs, pids };
}

async function startUpstream(scope: Scope): Promise<{ port: number; child: Child }> {
  const child = startChild(process.execPath, [join(repoRoot(), 'build', 'dev', 'function', 'main.js'), '--name', FUNCTION, '--port', '0'], {
    name: 'upstream',
  });
  scope.add(() => child.stop('SIGTERM', 3_000));
  const port = await child.waitFor(
    (line) => {
      const json = jsonLine(line);
      return json?.event === 'listening' ? Number(json.port) : undefined;
    },
    15_000,
    'upstream listening',
  );
  return { port, child };
}

export function pidOf(child: Child): number {
  const pid = child.proc.pid;
  if (pid === undefined) throw new Error('child process has no pid');
  return pid;
}

function processorCpu(runs: Record<Side, WarmRun>): ProcessorCpu {
  const waker = usPerRequest(runs.with, 'waker');
  const noop = usPerRequest(runs.noop, 'noop');
  return { waker_us: waker, noop_us: noop, ratio: ratio(waker, noop) };
}

function compareRate(rps: number, runs: Record<Side, WarmRun>): WarmRate {
  const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round(a - b));
  const { with: a, noop: c, without: b } = runs;
  return {
    rps,
    with: a,
    noop: c,
    without: b,
    added_p50_ms: diff(a.p50_ms, b.p50_ms),
    added_p90_ms: diff(a.p90_ms, b.p90_ms),
    added_p99_ms: diff(a.p99_ms, b.p99_ms),
    p50_ratio: ratio(a.p50_ms, b.p50_ms),
    p99_ratio: ratio(a.p99_ms, b.p99_ms),
    noop_added_p50_ms: diff(c.p50_ms, b.p50_ms),
    noop_added_p90_ms: diff(c.p90_ms, b.p90_ms),
    noop_added_p99_ms: diff(c.p99_ms, b.p99_ms),
    waker_minus_noop_p50_ms: diff(a.p50_ms, c.p50_ms),
    waker_minus_noop_p99_ms: diff(a.p99_ms, c.p99_ms),
    processor_cpu_us_per_request: processorCpu(runs),
  };
}
