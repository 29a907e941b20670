/**
 * The targets of issues #7 and #8 (Kubernetes mode), checked against what this run measured. A target whose figures this run
 * did not produce (another profile, or --only) is "not measured", never met by default.
 */
import type { ColdResult } from './cold';
import type { HeldResult } from './held';
import { callsText, type KubeResult } from './kube';
import type { WarmResult } from './warm';

/** Rate at which the warm latency targets apply. */
export const TARGET_RPS = 1000;

export interface Target {
  readonly id: string;
  /** The target, as a person reads it. */
  readonly target: string;
  /** What was measured, with the figures it comes from. */
  readonly measured: string;
  readonly value: number | null;
  /** The bound `value` is compared with (value ≤ limit); null when it could not be computed. */
  readonly limit: number | null;
  /** null: not measured in this run. */
  readonly met: boolean | null;
}

export interface TargetInputs {
  readonly warm: WarmResult | null;
  readonly cold: ColdResult | null;
  readonly held: HeldResult | null;
  readonly kube: KubeResult | null;
}

const ms = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : `${x.toFixed(digits)} ms`);

function check(id: string, target: string, measured: string, value: number | null, limit: number | null): Target {
  return { id, target, measured, value, limit, met: value === null || limit === null ? null : value <= limit };
}

export function evaluateTargets(r: TargetInputs): Target[] {
  return [...warmTargets(r.warm), errorsTarget(r), ...coldTargets(r.cold), ...kubeTargets(r.kube)];
}

function warmTargets(w: WarmResult | null): Target[] {
  const rate = w?.rates.find((x) => x.rps === TARGET_RPS);
  const p50 =
    rate === undefined
      ? ''
      : `A − C = ${ms(rate.waker_minus_noop_p50_ms, 3)} (added p50: faas-waker ${ms(rate.added_p50_ms, 3)}, no-op ${ms(rate.noop_added_p50_ms, 3)})`;
  const p99 =
    rate === undefined
      ? ''
      : `${ms(rate.added_p99_ms)} (p99 ${ms(rate.with.p99_ms)} vs Envoy alone ${ms(rate.without.p99_ms)}; no-op adds ${ms(rate.noop_added_p99_ms)})`;
  const cpu = w?.saturation.processor_cpu_us_per_request;
  // The same comparison at the highest fixed rate (same request rate on both sides, coarser CPU reading), for context.
  const top = w?.rates.reduce<WarmResult['rates'][number] | undefined>(
    (best, x) => (best === undefined || x.rps > best.rps ? x : best),
    undefined,
  );
  const atRate =
    top === undefined
      ? ''
      : `; at ${top.rps.toLocaleString('en-US')} req/s: ${top.processor_cpu_us_per_request.waker_us ?? '–'} vs ${top.processor_cpu_us_per_request.noop_us ?? '–'} µs`;
  const cpuText =
    cpu === undefined
      ? ''
      : `${cpu.ratio === null ? '–' : `${cpu.ratio.toFixed(2)}×`} (faas-waker ${cpu.waker_us ?? '–'} µs vs no-op ${cpu.noop_us ?? '–'} µs per request, at saturation${atRate})`;
  return [
    check(
      'warm_added_p50_vs_noop',
      `warm: added p50 at ${TARGET_RPS.toLocaleString('en-US')} req/s within 0.05 ms of the no-op ext_proc server's`,
      p50,
      rate?.waker_minus_noop_p50_ms ?? null,
      0.05,
    ),
    check('warm_added_p99', `warm: added p99 at ${TARGET_RPS.toLocaleString('en-US')} req/s ≤ 2 ms`, p99, rate?.added_p99_ms ?? null, 2),
    check('warm_cpu_vs_noop', "warm: faas-waker CPU per warm request ≤ 1.1× the no-op server's", cpuText, cpu?.ratio ?? null, 1.1),
  ];
}

/** Every request the run sent that was not answered 200 (warm runs: errors + not sent). */
function errorsTarget(r: TargetInputs): Target {
  const parts: string[] = [];
  let errors = 0;
  let measured = false;
  if (r.warm) {
    measured = true;
    const e = r.warm.errors;
    errors += e.with + e.noop + e.without;
    parts.push(`warm A/C/B ${e.with}/${e.noop}/${e.without}`);
  }
  if (r.cold) {
    measured = true;
    const bursts = r.cold.bursts.reduce((sum, b) => sum + b.n - b.ok, 0);
    const singles = r.cold.first_wakes.filter((w) => w.label.startsWith('single')).reduce((sum, w) => sum + w.n - w.ok, 0);
    const floors = r.cold.floors.reduce((sum, f) => sum + f.runs.reduce((s, run) => s + f.n - run.ok, 0), 0);
    const many = r.cold.many.functions - r.cold.many.ok;
    errors += bursts + singles + floors + many;
    parts.push(`cold bursts ${bursts}, single first wakes ${singles}, floors ${floors}, many functions ${many}`);
  }
  if (r.held) {
    measured = true;
    errors += r.held.n - r.held.ok;
    parts.push(`held ${r.held.n - r.held.ok}`);
  }
  if (r.kube) {
    measured = true;
    const bursts = r.kube.rounds.reduce((sum, b) => sum + b.n - b.ok, 0);
    const warm = r.kube.warm.errors;
    errors += bursts + warm;
    parts.push(`kube bursts ${bursts}, kube warm ${warm}`);
  }
  return check(
    'zero_errors',
    'zero errors (every request of the scenarios run)',
    measured ? `${errors} (${parts.join('; ')})` : '',
    measured ? errors : null,
    0,
  );
}

function coldTargets(c: ColdResult | null): Target[] {
  const firsts = c?.first_wakes ?? [];
  const lagText =
    firsts.length === 0
      ? ''
      : `p50 ${ms(c?.first_wake_detect_lag_p50_ms ?? null, 0)} over ${firsts.length} first wakes (${firsts.map((w) => (w.detect_lag_ms === null ? '–' : w.detect_lag_ms.toFixed(0))).join(', ')} ms)`;
  const excess = firsts.flatMap((w) => (w.fixed_100ms_status_calls === null ? [] : [w.status_calls - w.fixed_100ms_status_calls]));
  const callsText =
    firsts.length === 0
      ? ''
      : `status calls vs fixed 100 ms: ${firsts.map((w) => `${w.status_calls} vs ${w.fixed_100ms_status_calls ?? '–'}`).join(', ')}`;
  const largest = c === null || c.bursts.length === 0 ? null : Math.max(...c.bursts.map((b) => b.n));
  const big = (c?.bursts ?? []).filter((b) => b.n === largest);
  const ratios = big.flatMap((b) => (b.release_to_floor_ratio === null ? [] : [b.release_to_floor_ratio]));
  const worst = ratios.length === big.length && ratios.length > 0 ? Math.max(...ratios) : null;
  const floor = c?.floors.find((f) => f.n === largest);
  const releaseText =
    big.length === 0
      ? ''
      : `worst ${worst === null ? '–' : `${worst.toFixed(2)}×`} over ${big.length} bursts of ${largest}: last answer ${big.map((b) => (b.release_last_ms === null ? '–' : b.release_last_ms.toFixed(0))).join(', ')} ms after the release vs floor ${ms(floor?.last_ms ?? null, 0)}`;
  const m = c?.many;
  const manyCalls =
    m === undefined
      ? ''
      : `${m.provider_calls} (status ${m.status_calls} + scale ${m.scale_calls}) vs fixed 100 ms ${m.fixed_100ms_provider_calls ?? '–'}`;
  return [
    check(
      'cold_first_detect_lag',
      'cold, first wake (no history): readiness detected within 50 ms (p50) of the provider reporting it',
      lagText,
      c?.first_wake_detect_lag_p50_ms ?? null,
      50,
    ),
    check(
      'cold_first_status_calls',
      'cold, first wake: no more status calls than fixed 100 ms polling',
      callsText,
      excess.length === firsts.length && excess.length > 0 ? Math.max(...excess) : null,
      0,
    ),
    check(
      'cold_release_vs_floor',
      `cold release: the last of ${largest === null ? 'N' : largest.toLocaleString('en-US')} released requests answered within 1.2× of the delivery floor`,
      releaseText,
      worst,
      1.2,
    ),
    check(
      'many_overhead_p50',
      `${m?.functions ?? 200} functions at once: wake overhead p50 ≤ 100 ms`,
      m === undefined ? '' : ms(m.wake_overhead_p50_ms, 1),
      m?.wake_overhead_p50_ms ?? null,
      100,
    ),
    check(
      'many_provider_calls',
      `${m?.functions ?? 200} functions at once: provider calls no more than fixed 100 ms polling`,
      manyCalls,
      m?.provider_calls ?? null,
      m?.fixed_100ms_provider_calls ?? null,
    ),
  ];
}

/** Worst (largest) of a figure over every Kubernetes burst; null if any burst lacks it. */
function worstOf(rounds: KubeResult['rounds'], pick: (b: KubeResult['rounds'][number]) => number | null): number | null {
  const values = rounds.map(pick);
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return Math.max(...values.map((v) => v ?? 0));
}

function kubeTargets(k: KubeResult | null): Target[] {
  const rounds = k?.rounds ?? [];
  const label = (b: KubeResult['rounds'][number]): string => (b.round === 0 ? 'first' : `learned #${b.round}`);
  const n = k?.settings.n ?? 1000;
  const held = rounds.map((b) => `${label(b)}: ${b.held_at_release ?? '–'} held`).join(', ');
  const floor = k?.floor ?? null;
  // The floor: the same burst released at once by a Go ext_proc server behind the same Envoy (kube.ts releaseFloor).
  const floorText = (pick: (f: NonNullable<typeof floor>) => number | null, worst: number | null): string => {
    if (floor === null) return '';
    const value = pick(floor);
    const times = value === null || value <= 0 || worst === null ? '' : `, faas-waker's worst ${(worst / value).toFixed(1)}×`;
    return `; release floor (Envoy + a Go ext_proc server releasing all ${floor.n} at once) ${ms(value, 1)}${times}`;
  };
  const contText = (
    pick: (b: KubeResult['rounds'][number]) => number | null,
    pickFloor: (f: NonNullable<typeof floor>) => number | null,
  ): string =>
    rounds.length === 0
      ? ''
      : `${rounds.map((b) => `${ms(pick(b), 1)} (${label(b)}; detect ${ms(b.detect_ms, 1)}, last CONTINUE written ${ms(b.release_last_ms, 1)})`).join(', ')}; ${held}; CONTINUE = received by Envoy${floorText(pickFloor, worstOf(rounds, pick))}`;
  const polls = rounds.map((b) => `${label(b)} ${b.api_calls.by_call.status ?? 0}`).join(', ');
  const perWake = rounds.map((b) => `${label(b)} ${b.api_calls.total} (${callsText(b.api_calls)})`).join(', ');
  const w = k?.warm;
  const warmText =
    w === undefined
      ? ''
      : `${w.read_or_scale_calls} status/scale calls over ${w.requests} warm requests in ${w.duration_ms} ms (all API calls: ${callsText(w.api_calls)})`;
  return [
    check(
      'kube_continue_p50',
      `Kubernetes: EndpointSlice update → CONTINUE p50 ≤ 10 ms, burst of ${n.toLocaleString('en-US')} held`,
      contText(
        (b) => b.continue_p50_ms,
        (f) => f.continue_p50_ms,
      ),
      worstOf(rounds, (b) => b.continue_p50_ms),
      10,
    ),
    check(
      'kube_continue_p99',
      `Kubernetes: EndpointSlice update → CONTINUE p99 ≤ 50 ms, burst of ${n.toLocaleString('en-US')} held`,
      contText(
        (b) => b.continue_p99_ms,
        (f) => f.continue_p99_ms,
      ),
      worstOf(rounds, (b) => b.continue_p99_ms),
      50,
    ),
    check(
      'kube_zero_polls',
      'Kubernetes: zero polls (status reads) during a wake',
      rounds.length === 0 ? '' : `status reads per wake: ${polls}`,
      worstOf(rounds, (b) => b.api_calls.by_call.status ?? 0),
      0,
    ),
    check(
      'kube_api_per_wake',
      'Kubernetes: API requests per wake ≤ 2 (the scale patch, plus coordination)',
      rounds.length === 0 ? '' : perWake,
      worstOf(rounds, (b) => b.api_calls.total),
      2,
    ),
    check('kube_warm_no_api', 'Kubernetes: warm path unchanged, no API call per request', warmText, w?.read_or_scale_calls ?? null, 0),
  ];
}
