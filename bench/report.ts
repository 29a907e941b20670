/** Results: the JSON written to bench/results/, and the markdown table printed and put in bench/README.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ColdResult } from './cold';
import type { HeldResult } from './held';
import { callsText, type KubeResult } from './kube';
import { SCENARIOS } from './profile';
import type { QuietCheck } from './quiet';
import type { Target } from './targets';
import type { WarmResult } from './warm';
import { failed, type WarmRun } from './warm-run';

export interface Machine {
  readonly cores: number;
  readonly cpu_model: string;
  readonly memory_gb: number;
  readonly platform: string;
  readonly node: string;
  readonly open_files_limit: string;
}

/** How noisy the run was: the check before it, and what other processes used while it measured. */
export interface Noise {
  /** % of all cores busy over the quiet check just before the run. */
  readonly busy_before_pct: number;
  readonly load_avg_before: readonly number[];
  readonly quiet_check: QuietCheck;
  /** The run was started with --force on a machine that failed the quiet check. */
  readonly forced: boolean;
  /** The largest `others` CPU (% of one core) in any measured window, and where. */
  readonly max_others_pct: number | null;
  readonly max_others_in: string | null;
  /** Failed quiet check, or `others` reached NOISY_PCT in a measured window: the figures are not the real results. */
  readonly noisy: boolean;
}

export interface Results {
  readonly schema: 3;
  readonly date: string;
  readonly profile: 'quick' | 'full';
  /** Scenarios this run covered (all of them unless --only was given). */
  readonly scenarios: string[];
  readonly machine: Machine;
  readonly envoy: { readonly version: string; readonly raw: string; readonly concurrency: number };
  /** faas-waker environment per scenario (plus defaults for anything not listed). */
  readonly settings: Record<string, Record<string, string>>;
  readonly duration_s: number;
  readonly targets: Target[];
  readonly warm: WarmResult | null;
  readonly cold_burst: ColdResult['bursts'] | null;
  readonly cold_settings: ColdResult['settings'] | null;
  readonly cold_floors: ColdResult['floors'] | null;
  readonly cold_first_wakes: ColdResult['first_wakes'] | null;
  readonly cold_first_wake_detect_lag_p50_ms: number | null;
  readonly many_functions: ColdResult['many'] | null;
  readonly held: HeldResult | null;
  readonly kube: KubeResult | null;
  readonly noise: Noise;
  readonly notes: string[];
}

/** The measured window in which processes outside the benchmark used the most CPU. */
export function worstNoise(r: { warm: WarmResult | null; cold: ColdResult | null; held: HeldResult | null; kube: KubeResult | null }): {
  pct: number | null;
  where: string | null;
} {
  const windows: [string, Record<string, number>][] = [];
  for (const rate of r.warm?.rates ?? [])
    windows.push(
      [`warm ${rate.rps} A`, rate.with.cpu_pct],
      [`warm ${rate.rps} C`, rate.noop.cpu_pct],
      [`warm ${rate.rps} B`, rate.without.cpu_pct],
    );
  if (r.warm)
    windows.push(
      ['warm saturation A', r.warm.saturation.with.cpu_pct],
      ['warm saturation C', r.warm.saturation.noop.cpu_pct],
      ['warm saturation B', r.warm.saturation.without.cpu_pct],
    );
  for (const b of r.cold?.bursts ?? []) windows.push([`cold burst ${b.n} #${b.round}`, b.cpu_pct]);
  for (const f of r.cold?.floors ?? []) for (const run of f.runs) windows.push([`delivery floor ${f.n} (${run.through})`, run.cpu_pct]);
  if (r.cold) windows.push(['many functions', r.cold.many.cpu_pct]);
  if (r.held) windows.push(['held', r.held.cpu_pct]);
  for (const b of r.kube?.rounds ?? []) windows.push([`kube burst #${b.round}`, b.cpu_pct]);
  if (r.kube) windows.push(['kube warm', r.kube.warm.cpu_pct]);
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

/** `others` CPU (% of one core) in a measured window from which a run is flagged as noisy. */
export const NOISY_PCT = 20;
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
/** "a / c / b" of the three warm targets, in the order the tables use (A, C, B). */
const acb = (w: { with: WarmRun; noop: WarmRun; without: WarmRun }, pick: (run: WarmRun) => string): string =>
  `${pick(w.with)} / ${pick(w.noop)} / ${pick(w.without)}`;

export function renderTable(r: Results): string {
  const out: string[] = [];
  out.push(
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, profile **${r.profile}**, ${r.machine.cores} cores (${r.machine.cpu_model}), Node ${r.machine.node}, Envoy ${r.envoy.version} (--concurrency ${r.envoy.concurrency}), total ${Math.round(r.duration_s)} s. Raw figures: \`bench/results/latest.json\`.`,
  );
  const banner = noiseBanner(r);
  if (banner !== null) out.push('', banner);
  out.push('', ...targetsTable(r));
  if (r.warm) out.push('', ...warmTable(r.warm));
  if (r.cold_burst) out.push('', ...coldTable(r));
  if (r.cold_first_wakes) out.push('', ...firstWakesTable(r));
  if (r.cold_floors) out.push('', ...floorsTable(r));
  if (r.many_functions) out.push('', ...manyTable(r));
  if (r.held) out.push('', ...heldTable(r.held));
  if (r.kube) out.push('', ...kubeTable(r.kube));
  return out.join('\n');
}

function noiseBanner(r: Results): string | null {
  const n = r.noise;
  if (!n.noisy) return null;
  const parts: string[] = [];
  if (!n.quiet_check.quiet)
    parts.push(
      `the machine failed the quiet check before the run (${n.quiet_check.reasons.join('; ')}) and the run was ${n.forced ? 'forced (--force)' : 'not refused'}`,
    );
  if (n.max_others_pct !== null && n.max_others_pct >= NOISY_PCT)
    parts.push(
      `CPU not charged to any benchmark process (other programs, or kernel work outside interrupts) reached ${Math.round(n.max_others_pct)}% of one core in a measured window (${n.max_others_in ?? '?'})`,
    );
  return `> **Noisy run**: ${parts.join('; ')}; the machine was ${Math.round(n.busy_before_pct)}% busy just before the run (load average ${n.load_avg_before.join(' / ')}). These figures are not the real results: repeat on a quiet machine.`;
}

function targetsTable(r: Results): string[] {
  const verdict = (t: Target): string => (t.met === null ? 'not measured' : t.met ? 'met' : '**NOT met**');
  return [
    `**Targets** (issues #7 and #8)${r.noise.noisy ? ', from a noisy run' : ''}${r.scenarios.length < SCENARIOS.length ? `, scenarios run: ${r.scenarios.join(', ')}` : ''}.`,
    '',
    header(['target', 'measured', 'verdict']),
    ...r.targets.map((t) => row([t.target, t.measured === '' ? '–' : t.measured, verdict(t)])),
  ];
}

function warmTable(w: WarmResult): string[] {
  const lines = [
    '**Warm path**: Envoy + faas-waker (A) vs Envoy + the Go no-op ext_proc server (C) vs Envoy alone (B), same config and upstream, open loop at fixed rates (latency from the scheduled send time, ms). "added" = A − B and C − B; A − C = what faas-waker adds beyond a no-op ext_proc server.',
    '',
    header([
      'req/s',
      'achieved A / C / B',
      'p50 A / C / B',
      'p90 A / C / B',
      'p99 A / C / B',
      'added p50 A / C',
      'added p99 A / C',
      'A − C p50',
      'errors A / C / B',
    ]),
  ];
  for (const rate of w.rates) {
    lines.push(
      row([
        String(rate.rps),
        acb(rate, (x) => fmt(x.achieved_rps, 0)),
        acb(rate, (x) => fmt(x.p50_ms)),
        acb(rate, (x) => fmt(x.p90_ms)),
        acb(rate, (x) => fmt(x.p99_ms)),
        `${fmt(rate.added_p50_ms)} / ${fmt(rate.noop_added_p50_ms)}`,
        `${fmt(rate.added_p99_ms)} / ${fmt(rate.noop_added_p99_ms)}`,
        fmt(rate.waker_minus_noop_p50_ms, 3),
        acb(rate, (x) => String(failed(x))),
      ]),
    );
  }
  const s = w.saturation;
  lines.push(
    row([
      `max (${s.connections} conns)`,
      acb(s, (x) => fmt(x.achieved_rps, 0)),
      acb(s, (x) => fmt(x.p50_ms)),
      acb(s, (x) => fmt(x.p90_ms)),
      acb(s, (x) => fmt(x.p99_ms)),
      '',
      '',
      '',
      acb(s, (x) => String(failed(x))),
    ]),
  );
  const us = s.cpu_us_per_request;
  const proc = s.processor_cpu_us_per_request;
  const total = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
  lines.push(
    '',
    `Saturation throughput ratios: A/B **${fmt(w.throughput_ratio)}**, C/B **${fmt(w.throughput_ratio_noop)}**, A/C **${fmt(w.throughput_ratio_waker_noop)}**. CPU of the ext_proc server alone per answered request at saturation: faas-waker **${fmt(proc.waker_us, 1)} µs**, no-op **${fmt(proc.noop_us, 1)} µs**, ratio **${fmt(proc.ratio)}**.`,
    '',
    `CPU at saturation (% of one core), A: ${cpuLine(s.with.cpu_pct, ['envoy_with', 'waker', 'upstream', 'loadgen', 'irq', 'others', 'machine'])}; C: ${cpuLine(s.noop.cpu_pct, ['envoy_noop', 'noop', 'upstream', 'loadgen', 'irq', 'others', 'machine'])}; B: ${cpuLine(s.without.cpu_pct, ['envoy_without', 'upstream', 'loadgen', 'irq', 'others', 'machine'])} (irq = kernel interrupt/softirq time, mostly loopback networking; others = CPU not charged to any benchmark process; machine = % of all cores).`,
    '',
    `CPU per answered request at saturation (µs), A: ${usLine(us.with, ['envoy_with', 'waker', 'upstream', 'loadgen', 'irq'])}, all ${fmt(total(us.with), 0)}; C: ${usLine(us.noop, ['envoy_noop', 'noop', 'upstream', 'loadgen', 'irq'])}, all ${fmt(total(us.noop), 0)}; B: ${usLine(us.without, ['envoy_without', 'upstream', 'loadgen', 'irq'])}, all ${fmt(total(us.without), 0)}.`,
  );
  return lines;
}

function cpuLine(cpu: Record<string, number>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${pct(cpu[k])}`).join(', ');
}

function usLine(us: Record<string, number>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${fmt(us[k], 0)}`).join(', ');
}

function coldTable(r: Results): string[] {
  const settings = r.cold_settings;
  const lines = [
    `**Cold burst**: N concurrent requests to one function at zero replicas, start-up ${settings?.startup_ms ?? '?'} ms, ${settings?.protocol ?? ''}; each N on a new faas-waker (its first wake has no history). Wake overhead = first byte at the client − function ready in the provider (ms) = detect lag (readiness noticed by faas-waker − ready) + release (first byte − noticed); "faas-waker release" is faas-waker's own part of the release (every waiter resolved and every CONTINUE written), the rest is Envoy → provider proxy → function and back. "last answer" = last first byte − start of the release; "floor" = the same N fresh requests to the running function (delivery floor below). "fixed 100 ms" = status calls OpenFaaS-style polling would make for the same start-up (1 + ceil(start-up / 100)).`,
    '',
    header([
      'N',
      'wake',
      'ok',
      'scale calls',
      'status calls',
      'fixed 100 ms',
      'start-up',
      'overhead p50',
      'p99',
      'max',
      'detect lag',
      'faas-waker release',
      'release min / p50 / p99',
      'last answer',
      'floor',
      '× floor',
    ]),
  ];
  for (const b of r.cold_burst ?? []) {
    lines.push(
      row([
        String(b.n),
        b.round === 0 ? 'first (no history)' : `learned (#${b.round})`,
        `${b.ok}/${b.n}`,
        String(b.scale_calls),
        String(b.status_calls),
        fmt(b.fixed_100ms_status_calls, 0),
        fmt(b.startup_ms, 0),
        fmt(b.wake_overhead_p50_ms, 1),
        fmt(b.wake_overhead_p99_ms, 1),
        fmt(b.wake_overhead_max_ms, 1),
        fmt(b.detect_lag_p50_ms, 0),
        fmt(b.waker_release_ms, 1),
        `${fmt(b.release_min_ms, 0)} / ${fmt(b.release_p50_ms, 0)} / ${fmt(b.release_p99_ms, 0)}`,
        fmt(b.release_last_ms, 0),
        fmt(b.floor_last_ms, 0),
        fmt(b.release_to_floor_ratio),
      ]),
    );
  }
  for (const b of r.cold_burst ?? [])
    lines.push(...failures(`N=${b.n} #${b.round}`, b.error_samples, b.listen_overflows, b.waker_problems));
  return lines;
}

function firstWakesTable(r: Results): string[] {
  const wakes = r.cold_first_wakes ?? [];
  return [
    `**First wakes**: every one by a faas-waker process that had never woken a function. Detect lag = readiness noticed by faas-waker − ready in the provider (ms); p50 over them: **${fmt(r.cold_first_wake_detect_lag_p50_ms, 0)} ms**.`,
    '',
    header(['first wake', 'N', 'ok', 'start-up', 'detect lag', 'status calls', 'fixed 100 ms']),
    ...wakes.map((w) =>
      row([
        w.label,
        String(w.n),
        `${w.ok}/${w.n}`,
        fmt(w.startup_ms, 0),
        fmt(w.detect_lag_ms, 0),
        String(w.status_calls),
        fmt(w.fixed_100ms_status_calls, 0),
      ]),
    ),
  ];
}

function floorsTable(r: Results): string[] {
  const floors = r.cold_floors ?? [];
  const lines = [
    '**Delivery floor**: the same N fresh requests at once (one new HTTP/1.1 connection each) to the function while it runs, through the same Envoy + faas-waker (warm path), and through Envoy alone for reference; ms from the first send, median over the runs.',
    '',
    header(['N', 'runs', 'last answer', 'p50', 'Envoy alone: last / p50', 'ok (all runs)', 'status calls per run']),
  ];
  for (const f of floors) {
    const withWaker = f.runs.filter((run) => run.through === 'ext_proc');
    lines.push(
      row([
        String(f.n),
        String(withWaker.length),
        fmt(f.last_ms, 0),
        fmt(f.p50_ms, 0),
        `${fmt(f.alone_last_ms, 0)} / ${fmt(f.alone_p50_ms, 0)}`,
        `${f.runs.reduce((sum, run) => sum + run.ok, 0)}/${f.runs.length * f.n}`,
        withWaker.map((run) => String(run.status_calls)).join(', '),
      ]),
    );
  }
  for (const f of floors)
    for (const run of f.runs) lines.push(...failures(`floor N=${f.n} (${run.through})`, run.error_samples, run.listen_overflows));
  return lines;
}

function manyTable(r: Results): string[] {
  const m = r.many_functions;
  if (m === null) return [];
  return [
    `**Many functions**: ${m.functions} sleeping functions woken at once, one request each, by a new faas-waker. "fixed 100 ms" = the status calls fixed 100 ms polling would make for the same start-ups, plus one scale call per function.`,
    '',
    header([
      'functions',
      'ok',
      'status calls',
      'scale calls',
      'provider calls',
      'fixed 100 ms',
      'ready spread',
      'overhead p50',
      'p99',
      'max',
      'detect lag p50 / max',
      'release p50 / p99',
    ]),
    row([
      String(m.functions),
      `${m.ok}/${m.functions}`,
      String(m.status_calls),
      String(m.scale_calls),
      String(m.provider_calls),
      fmt(m.fixed_100ms_provider_calls, 0),
      fmt(m.ready_spread_ms, 0),
      fmt(m.wake_overhead_p50_ms, 1),
      fmt(m.wake_overhead_p99_ms, 1),
      fmt(m.wake_overhead_max_ms, 1),
      `${fmt(m.detect_lag_p50_ms, 0)} / ${fmt(m.detect_lag_max_ms, 0)}`,
      `${fmt(m.release_p50_ms, 0)} / ${fmt(m.release_p99_ms, 0)}`,
    ]),
    ...failures('many functions', m.error_samples, m.listen_overflows, m.waker_problems),
    '',
    `Provider-side start-up p50 ${fmt(m.startup_p50_ms, 0)} ms for a configured ${r.cold_settings?.startup_ms ?? '?'} ms: ${m.functions} Node processes start at once on ${r.machine.cores} cores.`,
  ];
}

/** A line under a table when something failed: grouped failure texts, accept-queue overflows, and faas-waker's warnings. */
function failures(label: string, samples: readonly string[], overflows: number | null, wakerSays: readonly string[] = []): string[] {
  if (samples.length === 0) return [];
  const queue =
    overflows !== null && overflows > 0 ? ` (${overflows} connections dropped by full accept queues meanwhile, machine-wide)` : '';
  const waker = wakerSays.length > 0 ? ` faas-waker logged: ${wakerSays.join('; ')}.` : '';
  return ['', `Failures, ${label}: ${samples.join('; ')}${queue}.${waker}`];
}

function heldTable(h: HeldResult): string[] {
  const lag = h.metrics_loop_lag;
  return [
    `**Held capacity**: ${h.n} requests held at once across ${h.functions} sleeping functions (${h.protocol}).`,
    '',
    header([
      'held at once',
      'answered 200',
      'RSS idle',
      'RSS holding',
      'RSS peak',
      '/status p99 idle',
      '/status p99 holding',
      'loop lag p99 (metrics)',
      'Envoy RSS',
    ]),
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
    ...failures('held', h.error_samples, h.listen_overflows, h.waker_problems),
  ];
}

function kubeTable(k: KubeResult): string[] {
  const f = k.floor ?? null; // absent in results written before the floor was measured
  const lines = [
    `**Kubernetes mode**: WAKER_PROVIDER=kubernetes with the shipped RBAC against a real control plane on 127.0.0.1 (started in ${fmt(k.plane_start_ms / 1000, 1)} s), Envoy in front of a local function process. A burst of ${k.settings.n} held requests (${k.settings.protocol}) to a Deployment at 0 replicas with a Service and a kwok ready delay of ${k.settings.ready_delay_ms} ms; "learned" = after a scale to zero made with the API, once faas-waker's /status showed its ready entry gone ("zero seen": ms from the PATCH's answer, polled every 10 ms; faas-waker's TTL is 1 h, so only its watch can do that). ms from t0, the EndpointSlice event with a ready endpoint: when the benchmark's own watch received it, or faas-waker's detection if that came first ("t0 from"); detect = readiness noticed by faas-waker (wake.ready time − releaseMs) − the benchmark's receipt (< 0: faas-waker saw it first); last CONTINUE = wake.ready time (every CONTINUE written by faas-waker); CONTINUE at Envoy = per held request, when Envoy received its CONTINUE (access log START_TIME + ext_proc request_header_latency_us), over the requests Envoy started before t0; first byte = at the clients, over the requests sent before t0. API calls = faas-waker's \`faas_waker_provider_requests_total\` from the burst until 1 s after its last answer.${f === null ? '' : ` "release floor" = the same burst through a second Envoy (same config, same function process) whose ext_proc server is the Go no-op holding every request and answering all of them at once ${f.release_after_ms} ms after the last arrived (\`bench/noop-extproc -hold\`); t0 = its release (instead of the ready event): what Envoy, the function and the clients need for the release on this machine without faas-waker.`}`,
    '',
    header([
      'wake',
      'zero seen',
      'ok',
      'held',
      'slice (rv)',
      't0 from',
      'start-up',
      'detect',
      'faas-waker release',
      'last CONTINUE',
      'CONTINUE at Envoy min / p50 / p99 / max',
      'first byte min / p50 / p99 / max',
      'API calls',
      'by call',
    ]),
  ];
  for (const b of k.rounds) {
    lines.push(
      row([
        b.round === 0 ? 'first' : `learned (#${b.round})`,
        fmt(b.scale_to_zero_seen_ms, 0),
        `${b.ok}/${b.n}`,
        b.held_at_release === null ? '–' : String(b.held_at_release),
        b.slice === null ? '–' : `${b.slice.event} ${b.slice.resource_version}`,
        b.t0_from,
        fmt(b.startup_ms, 0),
        fmt(b.detect_ms, 1),
        fmt(b.waker_release_ms, 1),
        fmt(b.release_last_ms, 1),
        `${fmt(b.continue_min_ms, 1)} / ${fmt(b.continue_p50_ms, 1)} / ${fmt(b.continue_p99_ms, 1)} / ${fmt(b.continue_max_ms, 1)}`,
        `${fmt(b.first_byte_min_ms, 0)} / ${fmt(b.first_byte_p50_ms, 0)} / ${fmt(b.first_byte_p99_ms, 0)} / ${fmt(b.first_byte_max_ms, 0)}`,
        String(b.api_calls.total),
        callsText(b.api_calls),
      ]),
    );
  }
  if (f !== null)
    lines.push(
      row([
        'release floor',
        '–',
        `${f.ok}/${f.n}`,
        String(f.sent_before_release),
        '–',
        'Go release',
        '–',
        '–',
        '–',
        '–',
        `${fmt(f.continue_min_ms, 1)} / ${fmt(f.continue_p50_ms, 1)} / ${fmt(f.continue_p99_ms, 1)} / ${fmt(f.continue_max_ms, 1)}`,
        `${fmt(f.first_byte_min_ms, 0)} / ${fmt(f.first_byte_p50_ms, 0)} / ${fmt(f.first_byte_p99_ms, 0)} / ${fmt(f.first_byte_max_ms, 0)}`,
        '–',
        '–',
      ]),
    );
  for (const b of k.rounds) lines.push(...failures(`kube #${b.round}`, b.error_samples, null, b.waker_problems));
  if (f !== null) lines.push(...failures('kube release floor', f.error_samples, null));
  lines.push(...failures('kube warm', k.warm.error_samples, null));
  const w = k.warm;
  const cpu = k.rounds[0]?.cpu_pct;
  if (f !== null)
    lines.push(
      '',
      `CPU during the release floor's burst (% of one core): ${cpuLine(f.cpu_pct, ['envoy', 'noop_extproc', 'upstream', 'loadgen', 'irq', 'others', 'machine'])}.`,
    );
  lines.push(
    '',
    `Warm afterwards: ${w.requests} requests in ${w.duration_ms} ms (closed loop, ${w.connections} connections), ${w.errors} errors, faas-waker API calls meanwhile: ${w.api_calls.total} (${callsText(w.api_calls)}).${cpu === undefined ? '' : ` CPU during the first burst (% of one core): ${cpuLine(cpu, ['envoy', 'waker', 'upstream', 'kube_apiserver', 'etcd', 'kube_controller_manager', 'kube_scheduler', 'kwok', 'loadgen', 'irq', 'others', 'machine'])}.`}`,
  );
  return lines;
}
