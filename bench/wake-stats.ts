/**
 * Measurements shared by the cold scenarios (cold bursts, many functions, held capacity): answers
 * by status, wake overhead split at faas-waker's `wake.ready` log line, counter deltas, and what
 * fixed 100 ms polling would cost.
 */
import type { BurstRequest } from './loadgen-types';
import { distribution, round } from './stats';

/** Polling interval OpenFaaS uses while it waits for a function (the comparison asked for by the issue). */
export const FIXED_POLL_MS = 100;

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
  const errorSamples = [...failures.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([text, count]) => `${count}× ${text}`);
  return { ok, status_counts: statusCounts, error_samples: errorSamples };
}

/** Requests answered 200 with a first byte. */
export function answered(requests: readonly BurstRequest[]): BurstRequest[] {
  return requests.filter((r) => r.status === 200 && r.error === null && r.firstByteAtMs !== null);
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
    wake_overhead_p50_ms: round(d.p50),
    wake_overhead_p99_ms: round(d.p99),
    wake_overhead_max_ms: round(d.max),
    wake_overhead_min_ms: round(d.min),
    detect_lag_p50_ms: round(lag.p50, 1),
    detect_lag_max_ms: round(lag.max, 1),
    release_p50_ms: round(rel.p50, 1),
    release_p99_ms: round(rel.p99, 1),
    release_min_ms: round(rel.min, 1),
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
    const change = value - (before[name] ?? 0);
    if (change !== 0) out[name] = change;
  }
  return out;
}

/** What fixed 100 ms polling would cost for a start-up: 1 initial status check + ceil(startup / 100) polls. */
export function fixedPollingCalls(startupMs: number | null): number | null {
  return startupMs === null ? null : 1 + Math.ceil(startupMs / FIXED_POLL_MS);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** faas-waker logs pino levels by label; its warn and error lines are what explains failed cold requests. */
const PROBLEM_LEVELS: ReadonlySet<unknown> = new Set(['warn', 'error', 'fatal', 40, 50, 60]);

/**
 * faas-waker's warn and error lines at or after `sinceMs`, grouped by event and error text with a
 * count each (at most 5 groups, largest first): why requests failed, in faas-waker's own words.
 */
export function wakerProblems(logs: readonly Record<string, unknown>[], sinceMs: number): string[] {
  const groups = new Map<string, number>();
  for (const line of logs) {
    if (!PROBLEM_LEVELS.has(line.level) || typeof line.time !== 'string') continue;
    const t = Date.parse(line.time);
    if (!Number.isFinite(t) || t < sinceMs) continue;
    const event = typeof line.event === 'string' ? line.event : typeof line.msg === 'string' ? line.msg : 'log';
    const text = `${event}${typeof line.err === 'string' ? `: ${line.err}` : ''}`;
    groups.set(text, (groups.get(text) ?? 0) + 1);
  }
  return [...groups.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([text, count]) => `${count}× ${text}`);
}
