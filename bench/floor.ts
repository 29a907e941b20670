/**
 * The delivery floor of a cold burst: the same N fresh requests at once (one new HTTP/1.1
 * connection each, like the burst) to a function that is already running, through the same Envoy
 * and faas-waker (warm path: CONTINUE at once). The last answer of a cold burst, counted from the
 * moment faas-waker starts its release, is compared with this. The same burst through Envoy alone
 * (no ext_proc) is the reference below it.
 */
import type { EnvoyProcess } from '../dev/stack/envoy';
import type { ProviderProcess } from '../dev/stack/processes';
import type { Driver } from './driver';
import type { BurstRequest } from './loadgen-types';
import { listenOverflows } from './procfs';
import { distribution, percentile, round } from './stats';
import { answered, answers, diff } from './wake-stats';

export type FloorPath = 'ext_proc' | 'envoy_alone';

export interface FloorRun {
  readonly through: FloorPath;
  readonly ok: number;
  readonly error_samples: string[];
  /** Last first byte − first send of the burst, ms. */
  readonly last_ms: number | null;
  /** Median of (first byte − first send), ms. */
  readonly p50_ms: number | null;
  /** Provider status calls for the function during the run (0 or a background refresh on the warm path). */
  readonly status_calls: number;
  readonly listen_overflows: number | null;
  readonly cpu_pct: Record<string, number>;
}

export interface Floor {
  readonly n: number;
  /** Median over the runs through Envoy + faas-waker: the floor a cold release of N is compared with. */
  readonly last_ms: number | null;
  readonly p50_ms: number | null;
  /** Median over the runs through Envoy alone (reference); null when not measured. */
  readonly alone_last_ms: number | null;
  readonly alone_p50_ms: number | null;
  readonly runs: FloorRun[];
}

export interface FloorTarget {
  readonly path: FloorPath;
  readonly envoy: EnvoyProcess;
}

/** `runs` rounds of one burst per target (order alternating by round); the function must be running. */
export async function measureFloor(
  provider: ProviderProcess,
  fnKey: string,
  path: string,
  n: number,
  targets: readonly FloorTarget[],
  runs: number,
  driver: Driver,
  pids: Record<string, number>,
): Promise<Floor> {
  const results: FloorRun[] = [];
  for (let pass = 0; pass < runs; pass++) {
    const order = pass % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) results.push(await floorRun(provider, fnKey, path, n, target, driver, pids));
  }
  const median = (through: FloorPath, pick: (r: FloorRun) => number | null): number | null => {
    const values = results
      .filter((r) => r.through === through)
      .map(pick)
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
    return values.length === 0 ? null : round(percentile(values, 50), 1);
  };
  return {
    n,
    last_ms: median('ext_proc', (r) => r.last_ms),
    p50_ms: median('ext_proc', (r) => r.p50_ms),
    alone_last_ms: median('envoy_alone', (r) => r.last_ms),
    alone_p50_ms: median('envoy_alone', (r) => r.p50_ms),
    runs: results,
  };
}

async function floorRun(
  provider: ProviderProcess,
  fnKey: string,
  path: string,
  n: number,
  target: FloorTarget,
  driver: Driver,
  pids: Record<string, number>,
): Promise<FloorRun> {
  const origin = `http://127.0.0.1:${target.envoy.port}`;
  // Two requests one after the other: the first may refresh faas-waker's readiness entry, the second is warm.
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`delivery floor: warm-up request through Envoy :${target.envoy.port} answered ${res.status}`);
  }
  const statusBefore = await statusCalls(provider, fnKey);
  const overflowsBefore = listenOverflows();
  const { result, cpu } = await driver.burst(
    { mode: 'burst', origin, paths: Array.from({ length: n }, () => path), protocol: 'h1', streamsPerConnection: 1, timeoutMs: 60_000 },
    pids,
    { functions: pids.provider ?? 0 },
  );
  const { ok, error_samples } = answers(result.requests);
  const spread = fromFirstSend(result.requests);
  return {
    through: target.path,
    ok,
    error_samples,
    last_ms: spread.last,
    p50_ms: spread.p50,
    status_calls: (await statusCalls(provider, fnKey)) - statusBefore,
    listen_overflows: diff(overflowsBefore, listenOverflows()),
    cpu_pct: cpu,
  };
}

/** First bytes of the answered requests counted from the burst's first send: last and median, ms. */
function fromFirstSend(requests: readonly BurstRequest[]): { last: number | null; p50: number | null } {
  const ok = answered(requests);
  if (ok.length === 0) return { last: null, p50: null };
  const start = Math.min(...requests.map((r) => r.sentAtMs));
  const d = distribution(ok.map((r) => (r.firstByteAtMs ?? start) - start));
  return { last: round(d.max, 1), p50: round(d.p50, 1) };
}

async function statusCalls(provider: ProviderProcess, fnKey: string): Promise<number> {
  const s = (await provider.stats()).functions[fnKey];
  if (s === undefined) throw new Error(`provider does not know ${fnKey}`);
  return s.statusCalls;
}
