import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Decision, StreamObserver } from './extproc/stream-handler';
import { SCALE_DOWN_RESULTS, type IdleObserver } from './idle/idle-observer';
import type { ProviderCallObserver } from './provider/provider-client';
import type { FunctionRef } from './routing/function-ref';
import type { WakerObserver } from './waker/waker-observer';

/** Seconds; from a warm-ish 10 ms to the longest hold we expect (5 minutes). */
export const WAIT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
const PROVIDER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface HeldSource {
  /** Whether the provider confirmed this function: only then does it get its own label. */
  isKnown(key: string): boolean;
  snapshotHeld(): Iterable<[string, number]>;
}

export interface Metrics {
  readonly registry: Registry;
  /** Where the held gauge reads from at scrape time (the waker, built after the metrics). */
  trackHeld(source: HeldSource): void;
  readonly stream: StreamObserver;
  readonly waker: WakerObserver;
  readonly provider: ProviderCallObserver;
  readonly idle: IdleObserver;
}

/**
 * Prometheus metrics on a registry of our own (no global state). Label cardinality stays bounded:
 * a `function` label is only ever written for functions the provider confirmed (`isKnown`), so
 * random names sent by an attacker create no series.
 */
export function createMetrics(version: string): Metrics {
  const registry = new Registry();
  new Gauge({
    name: 'faas_waker_build_info',
    help: 'Always 1; labels say which build runs',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version, node: process.version }, 1);
  let heldSource: HeldSource | undefined;
  collectDefaultMetrics({ register: registry });
  const streamsTotal = new Counter({ name: 'faas_waker_streams_total', help: 'ext_proc streams opened by Envoy', registers: [registry] });
  const streamsActive = new Gauge({ name: 'faas_waker_streams_active', help: 'ext_proc streams open now', registers: [registry] });
  const decisions = new Counter({
    name: 'faas_waker_decisions_total',
    help: 'Answers to request headers by outcome (pass, warm, checked, woken, rejected); rejections carry a reason',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  });
  new Gauge({
    name: 'faas_waker_held_requests',
    help: 'Requests held now, by function (functions not yet confirmed by the provider count as "other")',
    labelNames: ['function'],
    registers: [registry],
    collect() {
      this.reset();
      let other = 0;
      for (const [key, held] of heldSource?.snapshotHeld() ?? []) {
        if (heldSource?.isKnown(key) === true) this.set({ function: key }, held);
        else other += held;
      }
      this.set({ function: 'other' }, other);
    },
  });
  const coldStarts = new Counter({
    name: 'faas_waker_cold_starts_total',
    help: 'Wakes that found a function with no ready replica and waited for it (per faas-waker replica)',
    labelNames: ['function'],
    registers: [registry],
  });
  const wakes = new Counter({
    name: 'faas_waker_wakes_total',
    help: 'Wakes by result: woken (had to start), running (already up), or why it failed',
    labelNames: ['result'],
    registers: [registry],
  });
  const holdWait = new Histogram({
    name: 'faas_waker_hold_wait_seconds',
    help: 'Time every held request waited, by result (woken, checked, client_gone, or the rejection reason)',
    labelNames: ['result'],
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  const providerRequests = new Counter({
    name: 'faas_waker_provider_requests_total',
    help: 'Provider API calls by call (status, scale) and status class (2xx, 4xx, 5xx, error)',
    labelNames: ['call', 'status'],
    registers: [registry],
  });
  const providerDuration = new Histogram({
    name: 'faas_waker_provider_request_duration_seconds',
    help: 'Provider API call duration',
    labelNames: ['call'],
    buckets: PROVIDER_BUCKETS,
    registers: [registry],
  });
  const cacheLookups = new Counter({
    name: 'faas_waker_cache_lookups_total',
    help: 'Readiness cache lookups by result',
    labelNames: ['result'],
    registers: [registry],
  });

  const scaleDowns = new Counter({
    name: 'faas_waker_idle_scale_downs_total',
    help: 'Idle scale-to-zero attempts by result: scaled, conflict (activity elsewhere), aborted (activity here), denied (RBAC), error',
    labelNames: ['result'],
    registers: [registry],
  });
  const idleSeconds = new Histogram({
    name: 'faas_waker_idle_seconds',
    help: 'How long a function had been idle when this replica scaled it to zero',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'faas_waker_requests_in_flight',
    help: 'Requests to scale-to-zero functions let through by this replica and not yet over',
    registers: [registry],
  });
  const activityWrites = new Counter({
    name: 'faas_waker_activity_writes_total',
    help: 'Activity records written to function Deployments by result (ok, conflict, denied, gone, error)',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of SCALE_DOWN_RESULTS) scaleDowns.inc({ result }, 0);

  // Children bound once: the warm path pays an increment, not a label lookup.
  const hit = cacheLookups.labels('hit');
  const miss = cacheLookups.labels('miss');
  const decided: Record<Exclude<Decision, 'rejected'>, { inc(): void }> = {
    pass: decisions.labels('pass', ''),
    warm: decisions.labels('warm', ''),
    checked: decisions.labels('checked', ''),
    woken: decisions.labels('woken', ''),
  };

  return {
    registry,
    trackHeld: (source) => {
      heldSource = source;
    },
    stream: {
      streamOpened: () => {
        streamsTotal.inc();
        streamsActive.inc();
      },
      streamClosed: () => streamsActive.dec(),
      decision: (outcome, reason) => {
        if (outcome === 'rejected') decisions.inc({ outcome, reason: reason ?? 'internal' });
        else decided[outcome].inc();
      },
    },
    waker: {
      cacheLookup: (isHit) => (isHit ? hit : miss).inc(),
      wakeFinished: (fn: FunctionRef, result) => {
        wakes.inc({ result });
        if (result === 'woken') coldStarts.inc({ function: fn.key });
      },
      holdFinished: (_fn, result, waitedMs) => holdWait.observe({ result }, waitedMs / 1000),
    },
    provider: (call, status, durationMs) => {
      providerRequests.inc({ call, status });
      providerDuration.observe({ call }, durationMs / 1000);
    },
    idle: {
      scaleDown: (result, idleMs) => {
        scaleDowns.inc({ result });
        if (idleMs !== undefined) idleSeconds.observe(idleMs / 1000);
      },
      inFlightChanged: (delta) => inFlight.inc(delta),
      activityWrite: (result) => activityWrites.inc({ result }),
    },
  };
}
