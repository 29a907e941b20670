/** Client side of the warm-path runs: fixed-rate open loop and closed-loop saturation, on undici keep-alive pools. */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { ClosedSpec, LoadResult, RateSpec } from './loadgen-types';

/** Called once when the measured window starts (after warm-up), so the driver can sample CPU counters. */
export type OnMeasuring = () => void;

const MAX_ERROR_SAMPLES = 5;

class Tally {
  readonly latenciesMs: number[] = [];
  sent = 0;
  ok = 0;
  errors = 0;
  skipped = 0;
  inFlight = 0;
  maxInFlight = 0;
  lastDoneAt = 0;
  readonly statusCounts: Record<string, number> = {};
  readonly errorSamples: string[] = [];

  status(code: number): void {
    this.statusCounts[code] = (this.statusCounts[code] ?? 0) + 1;
  }

  error(err: unknown): void {
    this.errors += 1;
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.statusCounts.error = (this.statusCounts.error ?? 0) + 1;
    if (this.errorSamples.length < MAX_ERROR_SAMPLES) this.errorSamples.push(text);
  }
}

/** Keep-alive HTTP/1.1 connections for a load run, every timer bounded by `timeoutMs`. */
export function makePool(origin: string, connections: number, timeoutMs: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
}

/** One GET; resolves with its status (body fully read), or rejects on a transport error. */
async function get(pool: Pool, path: string): Promise<number> {
  const res = await pool.request({ path, method: 'GET' });
  await res.body.dump({ limit: 1 << 20 });
  return res.statusCode;
}

/**
 * Sends request i at `start + i / rps` whatever the answers do (no coordinated omission), and
 * measures each from that scheduled moment to the end of its body.
 */
export async function runRate(spec: RateSpec, onMeasuring: OnMeasuring): Promise<LoadResult> {
  const pool = makePool(spec.origin, spec.connections, spec.timeoutMs);
  const intervalMs = 1000 / spec.rps;
  const warmupCount = Math.round((spec.warmupMs / 1000) * spec.rps);
  const total = warmupCount + Math.round((spec.durationMs / 1000) * spec.rps);
  const tally = new Tally();
  const idle = new Set<Promise<void>>();
  let cpuAtStart = process.cpuUsage();
  const start = performance.now();
  const windowStart = start + warmupCount * intervalMs;
  let next = 0;

  const send = (i: number): void => {
    const scheduled = start + i * intervalMs;
    const measured = i >= warmupCount;
    if (tally.inFlight >= spec.maxInFlight) {
      if (measured) tally.skipped += 1;
      return;
    }
    if (measured) tally.sent += 1;
    tally.inFlight += 1;
    if (measured && tally.inFlight > tally.maxInFlight) tally.maxInFlight = tally.inFlight;
    const p: Promise<void> = get(pool, spec.path)
      .then(
        (code) => {
          const now = performance.now();
          if (!measured) return;
          tally.lastDoneAt = now;
          tally.status(code);
          if (code >= 200 && code < 300) {
            tally.ok += 1;
            tally.latenciesMs.push(now - scheduled);
          } else tally.errors += 1;
        },
        (err: unknown) => {
          if (measured) tally.error(err);
        },
      )
      .finally(() => {
        tally.inFlight -= 1;
        idle.delete(p);
      });
    idle.add(p);
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Everything due by now goes out in this tick; a late timer only delays sends, never drops them.
      while (next < total && start + next * intervalMs <= now) {
        if (next === warmupCount) {
          cpuAtStart = process.cpuUsage();
          onMeasuring();
        }
        send(next);
        next += 1;
      }
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, start + next * intervalMs - performance.now()));
    };
    tick();
  });
  await Promise.all([...idle]);
  const cpu = process.cpuUsage(cpuAtStart);
  await pool.close();
  return {
    mode: 'rate',
    ...snapshot(tally),
    windowMs: Math.max(tally.lastDoneAt, windowStart + spec.durationMs) - windowStart,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** `connections` workers in lock-step with their answers, for warm-up + duration; counts requests started in the window. */
export async function runClosed(spec: ClosedSpec, onMeasuring: OnMeasuring): Promise<LoadResult> {
  const pool = makePool(spec.origin, spec.connections, spec.timeoutMs);
  const tally = new Tally();
  const start = performance.now();
  const windowStart = start + spec.warmupMs;
  const windowEnd = windowStart + spec.durationMs;
  let cpuAtStart = process.cpuUsage();
  let measuring = false;

  const worker = async (): Promise<void> => {
    for (;;) {
      const sentAt = performance.now();
      if (sentAt >= windowEnd) return;
      if (!measuring && sentAt >= windowStart) {
        measuring = true;
        cpuAtStart = process.cpuUsage();
        onMeasuring();
      }
      const measured = sentAt >= windowStart;
      if (measured) tally.sent += 1;
      try {
        const code = await get(pool, spec.path);
        const now = performance.now();
        if (!measured) continue;
        tally.status(code);
        if (code >= 200 && code < 300 && now <= windowEnd) {
          tally.ok += 1;
          tally.latenciesMs.push(now - sentAt);
        } else if (code < 200 || code >= 300) tally.errors += 1;
      } catch (err) {
        if (measured) tally.error(err);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
  const cpu = process.cpuUsage(cpuAtStart);
  await pool.close();
  return {
    mode: 'closed',
    ...snapshot(tally),
    maxInFlight: spec.connections,
    windowMs: spec.durationMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

function snapshot(t: Tally): Omit<LoadResult, 'mode' | 'windowMs' | 'cpuMs'> {
  return {
    latenciesMs: t.latenciesMs,
    sent: t.sent,
    ok: t.ok,
    errors: t.errors,
    skipped: t.skipped,
    statusCounts: t.statusCounts,
    errorSamples: t.errorSamples,
    maxInFlight: t.maxInFlight,
  };
}
