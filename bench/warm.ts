/**
 * Warm path overhead: two Envoys side by side, A = envoy/envoy.yaml (ext_proc → faas-waker),
 * B = the same config without the ext_proc filter, both in front of the same upstream. The upstream
 * is the demo function process itself, reached directly: the local provider's proxy hop would add
 * two Node processes' CPU per request on a 2-core machine, the same for A and B, and so hide the
 * cost we want to see. faas-waker still asks the local provider about the function, where it is warm.
 */
import { join } from 'node:path';
import { jsonLine, startChild, type Child } from '../dev/stack/child';
import { startEnvoy, type EnvoyProcess } from '../dev/stack/envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from '../dev/stack/processes';
import { repoRoot } from '../dev/stack/repo';
import type { Driver, Measured } from './driver';
import { accessLogToDevNull, envoyStats, withoutExtProc } from './envoy-config';
import type { LoadResult } from './loadgen-types';
import type { WarmProfile } from './profile';
import type { Scope } from './scope';
import { distribution, ratio, round } from './stats';

const FUNCTION = 'warm';
const PATH = `/function/${FUNCTION}`;
const TIMEOUT_MS = 10_000;
const MAX_IN_FLIGHT = 2_000;
const OPEN_LOOP_CONNECTIONS = 64;

export type Side = 'with' | 'without';

export interface WarmRun {
  readonly runs: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly skipped: number;
  readonly achieved_rps: number | null;
  readonly mean_ms: number | null;
  readonly p50_ms: number | null;
  readonly p90_ms: number | null;
  readonly p99_ms: number | null;
  readonly p999_ms: number | null;
  readonly max_ms: number | null;
  readonly max_in_flight: number;
  readonly status_counts: Record<string, number>;
  readonly error_samples: string[];
  /** % of one core per process over the measured windows (mean of the runs); `machine` = % of all cores. */
  readonly cpu_pct: Record<string, number>;
}

export interface WarmRate {
  readonly rps: number;
  readonly with: WarmRun;
  readonly without: WarmRun;
  readonly added_p50_ms: number | null;
  readonly added_p90_ms: number | null;
  readonly added_p99_ms: number | null;
  readonly p50_ratio: number | null;
  readonly p99_ratio: number | null;
}

export interface WarmResult {
  readonly upstream: string;
  readonly config_with: string;
  readonly config_without: string;
  readonly method: string;
  readonly rates: WarmRate[];
  readonly saturation: {
    readonly connections: number;
    readonly with: WarmRun;
    readonly without: WarmRun;
    /** CPU time per answered request at saturation, µs, per process (where the added cost goes). */
    readonly cpu_us_per_request: Record<Side, Record<string, number>>;
  };
  /** Saturation throughput with faas-waker / without. */
  readonly throughput_ratio: number | null;
  readonly envoy_ext_proc_stats: Record<string, number>;
  readonly provider_status_calls: number;
}

interface WarmStack {
  readonly envoys: Record<Side, EnvoyProcess>;
  readonly waker: WakerProcess;
  readonly provider: ProviderProcess;
  readonly pids: Record<string, number>;
}

export async function runWarm(profile: WarmProfile, wakerEnv: Record<string, string>, driver: Driver, scope: Scope, log: (line: string) => void): Promise<WarmResult> {
  const stack = await startWarmStack(wakerEnv, scope);
  const origin = (side: Side): string => `http://127.0.0.1:${stack.envoys[side].port}`;
  const order = (i: number): Side[] => (i % 2 === 0 ? ['with', 'without'] : ['without', 'with']);

  const rates: WarmRate[] = [];
  for (const [i, rps] of profile.rates.entries()) {
    const runs: Record<Side, Measured<LoadResult>[]> = { with: [], without: [] };
    for (let rep = 0; rep < profile.repeats; rep++) {
      for (const side of order(i + rep)) {
        const spec = { mode: 'rate' as const, origin: origin(side), path: PATH, rps, warmupMs: profile.warmupMs, durationMs: profile.durationMs, connections: OPEN_LOOP_CONNECTIONS, maxInFlight: MAX_IN_FLIGHT, timeoutMs: TIMEOUT_MS };
        runs[side].push(await driver.load(spec, stack.pids, { functions: stack.pids.provider ?? 0 }));
      }
    }
    const rate = compareRate(rps, merge(runs.with), merge(runs.without));
    log(`warm ${rps} req/s: p50 ${rate.with.p50_ms} vs ${rate.without.p50_ms} ms, p99 ${rate.with.p99_ms} vs ${rate.without.p99_ms} ms (with vs without)`);
    rates.push(rate);
  }

  const sat = profile.saturation;
  const satRuns: Record<Side, Measured<LoadResult>[]> = { with: [], without: [] };
  for (let rep = 0; rep < sat.repeats; rep++) {
    for (const side of order(rep)) {
      const spec = { mode: 'closed' as const, origin: origin(side), path: PATH, connections: sat.connections, warmupMs: sat.warmupMs, durationMs: sat.durationMs, timeoutMs: TIMEOUT_MS };
      satRuns[side].push(await driver.load(spec, stack.pids, { functions: stack.pids.provider ?? 0 }));
    }
  }
  const satWith = merge(satRuns.with);
  const satWithout = merge(satRuns.without);
  const saturation = { connections: sat.connections, with: satWith, without: satWithout, cpu_us_per_request: { with: perRequest(satWith), without: perRequest(satWithout) } };
  log(`warm saturation: ${saturation.with.achieved_rps} vs ${saturation.without.achieved_rps} req/s (with vs without)`);

  const extProc = await envoyStats(stack.envoys.with.adminPort, 'ext_proc');
  const providerStats = await stack.provider.stats();
  return {
    upstream: 'demo function process (dev/function) reached directly by both Envoys, keep-alive',
    config_with: 'envoy/envoy.yaml as shipped (access log written to /dev/null), --concurrency 1',
    config_without: 'the same config with the envoy.filters.http.ext_proc filter removed',
    method: `open loop: request i sent at start + i/rate, latency from that scheduled time to the last body byte (no coordinated omission), up to ${OPEN_LOOP_CONNECTIONS} keep-alive HTTP/1.1 connections; saturation: closed loop, ${sat.connections} connections; A/B order alternates per run`,
    rates,
    saturation,
    throughput_ratio: ratio(saturation.with.achieved_rps, saturation.without.achieved_rps),
    envoy_ext_proc_stats: extProc,
    provider_status_calls: providerStats.totals.statusCalls,
  };
}

async function startWarmStack(wakerEnv: Record<string, string>, scope: Scope): Promise<WarmStack> {
  const provider = await startProvider(['--function', `${FUNCTION}:0`]);
  scope.add(() => provider.stop());
  const waker = await startWaker({ WAKER_PROVIDER_URL: provider.url, ...wakerEnv });
  scope.add(() => waker.stop('SIGKILL'));
  const upstream = await startUpstream(scope);
  const common = { grpcPort: waker.grpcPort, gatewayPort: upstream.port, concurrency: 1 };
  const withEnvoy = await startEnvoy({ ...common, patch: accessLogToDevNull });
  scope.add(() => withEnvoy.stop());
  const withoutEnvoy = await startEnvoy({
    ...common,
    patch: (doc) => {
      accessLogToDevNull(doc);
      withoutExtProc(doc);
    },
  });
  scope.add(() => withoutEnvoy.stop());
  // The first request through A wakes the function in the provider (start-up 0 ms); then both must answer 200.
  for (const envoy of [withEnvoy, withoutEnvoy]) {
    const res = await fetch(`http://127.0.0.1:${envoy.port}${PATH}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warm-up request through Envoy :${envoy.port} answered ${res.status}`);
  }
  const pids = {
    envoy_with: pidOf(withEnvoy.child),
    envoy_without: pidOf(withoutEnvoy.child),
    waker: pidOf(waker.child),
    upstream: pidOf(upstream.child),
    provider: pidOf(provider.child),
  };
  return { envoys: { with: withEnvoy, without: withoutEnvoy }, waker, provider, pids };
}

async function startUpstream(scope: Scope): Promise<{ port: number; child: Child }> {
  const child = startChild(process.execPath, [join(repoRoot(), 'build', 'dev', 'function', 'main.js'), '--name', FUNCTION, '--port', '0'], { name: 'upstream' });
  scope.add(() => child.stop('SIGTERM', 3_000));
  const port = await child.waitFor((line) => {
    const json = jsonLine(line);
    return json?.event === 'listening' ? Number(json.port) : undefined;
  }, 15_000, 'upstream listening');
  return { port, child };
}

export function pidOf(child: Child): number {
  const pid = child.proc.pid;
  if (pid === undefined) throw new Error('child process has no pid');
  return pid;
}

/** Pools the runs of one side: latencies concatenated, counters summed, CPU averaged. */
function merge(runs: readonly Measured<LoadResult>[]): WarmRun {
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const errorSamples: string[] = [];
  const cpuSum: Record<string, number> = {};
  let sent = 0, ok = 0, errors = 0, skipped = 0, windowMs = 0, maxInFlight = 0;
  for (const { result, cpu } of runs) {
    for (const x of result.latenciesMs) latencies.push(x);
    sent += result.sent;
    ok += result.ok;
    errors += result.errors;
    skipped += result.skipped;
    windowMs += result.windowMs;
    maxInFlight = Math.max(maxInFlight, result.maxInFlight);
    for (const [k, v] of Object.entries(result.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
    for (const e of result.errorSamples) if (errorSamples.length < 5) errorSamples.push(e);
    for (const [k, v] of Object.entries(cpu)) cpuSum[k] = (cpuSum[k] ?? 0) + v;
  }
  const d = distribution(latencies);
  const cpu_pct: Record<string, number> = {};
  for (const [k, v] of Object.entries(cpuSum)) cpu_pct[k] = round(v / runs.length, 1) ?? 0;
  return {
    runs: runs.length, sent, ok, errors, skipped,
    achieved_rps: windowMs > 0 ? round((ok * 1000) / windowMs, 1) : null,
    mean_ms: round(d.mean), p50_ms: round(d.p50), p90_ms: round(d.p90), p99_ms: round(d.p99), p999_ms: round(d.p999), max_ms: round(d.max),
    max_in_flight: maxInFlight, status_counts: statusCounts, error_samples: errorSamples, cpu_pct,
  };
}

/** % of one core ÷ answers per second → µs of CPU per answer, for every process (not the machine totals). */
function perRequest(run: WarmRun): Record<string, number> {
  const out: Record<string, number> = {};
  const rps = run.achieved_rps;
  if (rps === null || rps <= 0) return out;
  for (const [name, pct] of Object.entries(run.cpu_pct)) {
    if (name === 'machine' || name === 'others' || pct <= 0) continue;
    out[name] = round((pct / 100) * (1e6 / rps), 1) ?? 0;
  }
  return out;
}

function compareRate(rps: number, withRun: WarmRun, withoutRun: WarmRun): WarmRate {
  const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round(a - b));
  return {
    rps,
    with: withRun,
    without: withoutRun,
    added_p50_ms: diff(withRun.p50_ms, withoutRun.p50_ms),
    added_p90_ms: diff(withRun.p90_ms, withoutRun.p90_ms),
    added_p99_ms: diff(withRun.p99_ms, withoutRun.p99_ms),
    p50_ratio: ratio(withRun.p50_ms, withoutRun.p50_ms),
    p99_ratio: ratio(withRun.p99_ms, withoutRun.p99_ms),
  };
}
