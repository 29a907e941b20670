/** Results: the JSON written to bench/results/, and the markdown table printed and put in bench/README.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ColdResult } from './cold';
import type { HeldResult } from './held';
import type { WarmResult, WarmRun } from './warm';

export interface Machine {
  readonly cores: number;
  readonly cpu_model: string;
  readonly memory_gb: number;
  readonly platform: string;
  readonly node: string;
  readonly open_files_limit: string;
}

export interface Results {
  readonly schema: 1;
  readonly date: string;
  readonly profile: 'quick' | 'full';
  /** Scenarios this run covered (all four unless --only was given). */
  readonly scenarios: string[];
  readonly machine: Machine;
  readonly envoy: { readonly version: string; readonly raw: string; readonly concurrency: number };
  /** faas-waker environment per scenario (plus defaults for anything not listed). */
  readonly settings: Record<string, Record<string, string>>;
  readonly duration_s: number;
  readonly warm: WarmResult | null;
  readonly cold_burst: ColdResult['bursts'] | null;
  readonly cold_settings: ColdResult['settings'] | null;
  readonly many_functions: ColdResult['many'] | null;
  readonly held: HeldResult | null;
  /** Other work on the machine: busy % of all cores just before the run, and the most CPU (% of one core) other processes used in any measured window. */
  readonly noise: { readonly busy_before_pct: number; readonly max_others_pct: number | null; readonly max_others_in: string | null };
  readonly notes: string[];
}

/** The measured window in which processes outside the benchmark used the most CPU. */
export function worstNoise(r: Pick<Results, 'warm' | 'cold_burst' | 'many_functions' | 'held'>): { pct: number | null; where: string | null } {
  const windows: [string, Record<string, number>][] = [];
  for (const rate of r.warm?.rates ?? []) windows.push([`warm ${rate.rps} A`, rate.with.cpu_pct], [`warm ${rate.rps} B`, rate.without.cpu_pct]);
  if (r.warm) windows.push(['warm saturation A', r.warm.saturation.with.cpu_pct], ['warm saturation B', r.warm.saturation.without.cpu_pct]);
  for (const b of r.cold_burst ?? []) windows.push([`cold burst ${b.n} #${b.round}`, b.cpu_pct]);
  if (r.many_functions) windows.push(['many functions', r.many_functions.cpu_pct]);
  if (r.held) windows.push(['held', r.held.cpu_pct]);
  let pct: number | null = null;
  let where: string | null = null;
  for (const [name, cpu] of windows) {
    const others = cpu.others;
    if (others !== undefined && (pct === null || others > pct)) {
      pct = others;
      where = name;
    }
  }
  return { pct, where };
}

/** `others` CPU (% of one core) from which a run is flagged as noisy in the table. */
const NOISY_PCT = 20;
const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

export function writeResults(dir: string, results: Results): string[] {
  mkdirSync(dir, { recursive: true });
  // A quick run of the same day does not overwrite the day's full run.
  const day = `${results.date.slice(0, 10)}${results.profile === 'quick' ? '-quick' : ''}`;
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const files = [join(dir, `${day}.json`), join(dir, 'latest.json')];
  for (const file of files) writeFileSync(file, text);
  return files;
}

/** Replaces the text between the results markers of `readme`; returns false if the markers are missing. */
export function updateReadme(readme: string, table: string): boolean {
  if (!existsSync(readme)) return false;
  const text = readFileSync(readme, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return false;
  writeFileSync(readme, `${text.slice(0, start + START.length)}\n${table}\n${text.slice(end)}`);
  return true;
}

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : x.toFixed(digits));
const pct = (x: number | undefined): string => (x === undefined ? '–' : `${Math.round(x)}%`);
const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
const header = (cells: readonly string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`;

export function renderTable(r: Results): string {
  const out: string[] = [];
  out.push(
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, profile **${r.profile}**, ${r.machine.cores} cores (${r.machine.cpu_model}), Node ${r.machine.node}, Envoy ${r.envoy.version} (--concurrency ${r.envoy.concurrency}), total ${Math.round(r.duration_s)} s. Raw figures: \`bench/results/latest.json\`.`,
  );
  if (r.noise.max_others_pct !== null && r.noise.max_others_pct >= NOISY_PCT) {
    out.push(
      '',
      `> **Noisy run**: CPU not charged to any benchmark process (other programs, or kernel work outside interrupts) reached ${Math.round(r.noise.max_others_pct)}% of one core in a measured window (${r.noise.max_others_in ?? '?'}); the machine was ${Math.round(r.noise.busy_before_pct)}% busy just before the run. Compare with a run on a quiet machine.`,
    );
  }
  if (r.warm) out.push('', ...warmTable(r.warm));
  if (r.cold_burst) out.push('', ...coldTable(r));
  if (r.many_functions) out.push('', ...manyTable(r));
  if (r.held) out.push('', ...heldTable(r.held));
  return out.join('\n');
}

function warmTable(w: WarmResult): string[] {
  const lines = [
    '**Warm path**: Envoy + faas-waker (A) vs Envoy alone (B), same upstream, open loop at fixed rates (latency from the scheduled send time, ms).',
    '',
    header(['req/s', 'achieved A / B', 'p50 A / B', 'p90 A / B', 'p99 A / B', 'added p50', 'added p99', 'errors A / B']),
  ];
  for (const rate of w.rates) {
    lines.push(
      row([
        String(rate.rps),
        `${fmt(rate.with.achieved_rps, 0)} / ${fmt(rate.without.achieved_rps, 0)}`,
        `${fmt(rate.with.p50_ms)} / ${fmt(rate.without.p50_ms)}`,
        `${fmt(rate.with.p90_ms)} / ${fmt(rate.without.p90_ms)}`,
        `${fmt(rate.with.p99_ms)} / ${fmt(rate.without.p99_ms)}`,
        fmt(rate.added_p50_ms),
        fmt(rate.added_p99_ms),
        `${errorCount(rate.with)} / ${errorCount(rate.without)}`,
      ]),
    );
  }
  const s = w.saturation;
  lines.push(
    row([
      `max (${s.connections} conns)`,
      `${fmt(s.with.achieved_rps, 0)} / ${fmt(s.without.achieved_rps, 0)}`,
      `${fmt(s.with.p50_ms)} / ${fmt(s.without.p50_ms)}`,
      `${fmt(s.with.p90_ms)} / ${fmt(s.without.p90_ms)}`,
      `${fmt(s.with.p99_ms)} / ${fmt(s.without.p99_ms)}`,
      '',
      '',
      `${errorCount(s.with)} / ${errorCount(s.without)}`,
    ]),
  );
  const us = s.cpu_us_per_request;
  const total = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
  lines.push(
    '',
    `Saturation throughput ratio A/B: **${fmt(w.throughput_ratio)}**. CPU at saturation (% of one core), A: ${cpuLine(s.with.cpu_pct, ['envoy_with', 'waker', 'upstream', 'loadgen', 'irq', 'others', 'machine'])}; B: ${cpuLine(s.without.cpu_pct, ['envoy_without', 'upstream', 'loadgen', 'irq', 'others', 'machine'])} (irq = kernel interrupt/softirq time, mostly loopback networking; others = CPU not charged to any benchmark process; machine = % of all cores).`,
    '',
    `CPU per answered request at saturation (µs), A: ${usLine(us.with, ['envoy_with', 'waker', 'upstream', 'loadgen', 'irq'])}, all ${fmt(total(us.with), 0)}; B: ${usLine(us.without, ['envoy_without', 'upstream', 'loadgen', 'irq'])}, all ${fmt(total(us.without), 0)}.`,
  );
  return lines;
}

function cpuLine(cpu: Record<string, number>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${pct(cpu[k])}`).join(', ');
}

function usLine(us: Record<string, number>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${fmt(us[k], 0)}`).join(', ');
}

function errorCount(run: WarmRun): string {
  return String(run.errors + run.skipped);
}

function coldTable(r: Results): string[] {
  const settings = r.cold_settings;
  const lines = [
    `**Cold burst**: N concurrent requests to one function at zero replicas, start-up ${settings?.startup_ms ?? '?'} ms, ${settings?.protocol ?? ''}. Wake overhead = first byte at the client − function ready in the provider (ms) = detect lag (readiness noticed by faas-waker − ready) + release (first byte − noticed); "faas-waker release" is faas-waker's own part of the release (every waiter resolved and every CONTINUE written), the rest is Envoy → provider proxy → function and back. "fixed 100 ms" = status calls OpenFaaS-style polling would make for the same start-up (1 + ceil(start-up / 100)).`,
    '',
    header(['N', 'wake', 'ok', 'scale calls', 'status calls', 'fixed 100 ms', 'start-up', 'overhead p50', 'p99', 'max', 'detect lag', 'faas-waker release', 'release min / p50 / p99']),
  ];
  for (const b of r.cold_burst ?? []) {
    lines.push(
      row([String(b.n), b.round === 0 ? 'first (no history)' : `learned (#${b.round})`, `${b.ok}/${b.n}`, String(b.scale_calls), String(b.status_calls), fmt(b.fixed_100ms_status_calls, 0), fmt(b.startup_ms, 0), fmt(b.wake_overhead_p50_ms, 1), fmt(b.wake_overhead_p99_ms, 1), fmt(b.wake_overhead_max_ms, 1), fmt(b.detect_lag_p50_ms, 0), fmt(b.waker_release_ms, 1), `${fmt(b.release_min_ms, 0)} / ${fmt(b.release_p50_ms, 0)} / ${fmt(b.release_p99_ms, 0)}`]),
    );
  }
  for (const b of r.cold_burst ?? []) lines.push(...failures(`N=${b.n} #${b.round}`, b.error_samples, b.listen_overflows));
  return lines;
}

function manyTable(r: Results): string[] {
  const m = r.many_functions;
  if (m === null) return [];
  return [
    `**Many functions**: ${m.functions} sleeping functions woken at once, one request each.`,
    '',
    header(['functions', 'ok', 'status calls', 'scale calls', 'fixed 100 ms', 'ready spread', 'overhead p50', 'p99', 'max', 'detect lag p50 / max', 'release p50 / p99']),
    row([String(m.functions), `${m.ok}/${m.functions}`, String(m.status_calls), String(m.scale_calls), fmt(m.fixed_100ms_status_calls, 0), fmt(m.ready_spread_ms, 0), fmt(m.wake_overhead_p50_ms, 1), fmt(m.wake_overhead_p99_ms, 1), fmt(m.wake_overhead_max_ms, 1), `${fmt(m.detect_lag_p50_ms, 0)} / ${fmt(m.detect_lag_max_ms, 0)}`, `${fmt(m.release_p50_ms, 0)} / ${fmt(m.release_p99_ms, 0)}`]),
    ...failures('many functions', m.error_samples, m.listen_overflows),
    '',
    `Provider-side start-up p50 ${fmt(m.startup_p50_ms, 0)} ms for a configured ${r.cold_settings?.startup_ms ?? '?'} ms: ${m.functions} Node processes start at once on ${r.machine.cores} cores.`,
  ];
}

/** A line under a table when something failed: grouped failure texts and accept-queue overflows. */
function failures(label: string, samples: readonly string[], overflows: number | null): string[] {
  if (samples.length === 0) return [];
  const queue = overflows !== null && overflows > 0 ? ` (${overflows} connections dropped by full accept queues meanwhile, machine-wide)` : '';
  return ['', `Failures, ${label}: ${samples.join('; ')}${queue}.`];
}

function heldTable(h: HeldResult): string[] {
  const lag = h.metrics_loop_lag;
  return [
    `**Held capacity**: ${h.n} requests held at once across ${h.functions} sleeping functions (${h.protocol}).`,
    '',
    header(['held at once', 'answered 200', 'RSS idle', 'RSS holding', 'RSS peak', '/status p99 idle', '/status p99 holding', 'loop lag p99 (metrics)', 'Envoy RSS']),
    row([
      String(h.max_held),
      `${h.ok}/${h.n}`,
      `${fmt(h.rss_idle_mb, 0)} MB`,
      `${fmt(h.rss_mb, 0)} MB`,
      `${fmt(h.rss_peak_mb, 0)} MB`,
      `${fmt(h.loop_delay_idle_p99_ms, 1)} ms`,
      `${fmt(h.loop_delay_p99_ms, 1)} ms`,
      lag === null ? 'n/a' : `${fmt(lag.p99_ms, 1)} ms`,
      `${fmt(h.envoy_rss_mb, 0)} MB`,
    ]),
    '',
    `After the hold: wake overhead p50 ${fmt(h.wake_overhead_p50_ms, 0)} ms, p99 ${fmt(h.wake_overhead_p99_ms, 0)} ms (detect lag p50 ${fmt(h.detect_lag_p50_ms, 0)} ms, release p50 ${fmt(h.release_p50_ms, 0)} / p99 ${fmt(h.release_p99_ms, 0)} ms); all held ${fmt(h.time_to_hold_all_ms === null ? null : h.time_to_hold_all_ms / 1000, 1)} s after the first request; local provider up to ${h.provider_fds_max ?? '–'} open descriptors.`,
    ...failures('held', h.error_samples, h.listen_overflows),
  ];
}
