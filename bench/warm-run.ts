/** Pooling of repeated load runs of one warm-path target, and CPU per answered request. */
import type { Measured } from './driver';
import type { LoadResult } from './loadgen-types';
import { distribution, round } from './stats';

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

/** Pools the runs of one target: latencies concatenated, counters summed, CPU averaged. */
export function merge(runs: readonly Measured<LoadResult>[]): WarmRun {
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const errorSamples: string[] = [];
  const cpuSum: Record<string, number> = {};
  let sent = 0,
    ok = 0,
    errors = 0,
    skipped = 0,
    windowMs = 0,
    maxInFlight = 0;
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
    runs: runs.length,
    sent,
    ok,
    errors,
    skipped,
    achieved_rps: windowMs > 0 ? round((ok * 1000) / windowMs, 1) : null,
    mean_ms: round(d.mean),
    p50_ms: round(d.p50),
    p90_ms: round(d.p90),
    p99_ms: round(d.p99),
    p999_ms: round(d.p999),
    max_ms: round(d.max),
    max_in_flight: maxInFlight,
    status_counts: statusCounts,
    error_samples: errorSamples,
    cpu_pct,
  };
}

/** % of one core ÷ answers per second → µs of CPU per answer, for every process (not the machine totals). */
export function perRequest(run: WarmRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(run.cpu_pct)) {
    if (name === 'machine' || name === 'others') continue;
    const us = usPerRequest(run, name);
    if (us !== null && us > 0) out[name] = us;
  }
  return out;
}

/** CPU of one process per answered request, µs; null without answers or without a reading for it. */
export function usPerRequest(run: WarmRun, name: string): number | null {
  const rps = run.achieved_rps;
  const pct = run.cpu_pct[name];
  if (rps === null || rps <= 0 || pct === undefined) return null;
  return round((pct / 100) * (1e6 / rps), 1);
}

/** Errors (non-2xx and transport) plus requests not sent because too many were in flight. */
export function failed(run: WarmRun): number {
  return run.errors + run.skipped;
}
