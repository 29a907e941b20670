/**
 * `npm run bench [-- --quick] [-- --only warm,cold,held,kube] [-- --force]`: faas-waker against a no-op
 * ext_proc server and Envoy alone, on this machine, with the real Envoy, the local provider and real
 * function processes (loopback only), and in Kubernetes mode against a real control plane (kube). Refuses to start on a busy machine unless --force. Prints the
 * targets and tables, writes bench/results/<date>.json and latest.json, and refreshes the table in
 * bench/README.md. Every process it starts is stopped at the end, on error, and on SIGINT/SIGTERM.
 */
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { installedKube } from '../dev/stack/kube';
import { repoRoot } from '../dev/stack/repo';
import { runCold, type ColdResult } from './cold';
import { createDriver } from './driver';
import { envoyVersion } from './envoy-config';
import { runHeld, type HeldResult } from './held';
import { cpuClock } from './procfs';
import { runKube, type KubeResult } from './kube';
import { FULL, QUICK, SCENARIOS, type Scenario } from './profile';
import { MachineBusyError, quietOrForced } from './quiet';
import { NOISY_PCT, renderTable, updateReadme, worstNoise, writeResults, type Results } from './report';
import { createScope } from './scope';
import { evaluateTargets } from './targets';
import { NOOP_BINARY } from './noop';
import { runWarm, type WarmResult } from './warm';

const NOTES = [
  'All processes share the same cores: the load generator (one Node process) competes with Envoy, faas-waker and the upstream for CPU, so saturation figures are those of the whole box, not of Envoy or faas-waker alone.',
  'Warm path: three Envoys run at once (--concurrency 1 each) in front of the same upstream (the demo function process reached directly): A with faas-waker, C with the Go no-op ext_proc server (bench/noop-extproc), B without ext_proc; the order of A, C and B changes from run to run to cancel drift.',
  'Cold paths: one local provider; each phase (single first wakes, each burst size, many functions) runs on a new faas-waker and Envoy, so a first wake has no history.',
  'Cold paths go through the local provider, which proxies every function request to a child process over loopback.',
  'Wake overhead compares two clocks of the same machine (performance.timeOrigin + performance.now() in the provider and in the load generator).',
  "Kubernetes mode: a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) runs on the same cores as everything else; the times from the EndpointSlice event compare the benchmark's clock (when its own watch got the event), Envoy's access-log times (CONTINUE received), faas-waker's pino log time (ms) and the load generator's clock.",
];

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function parseScenarios(only: string | undefined): Scenario[] {
  if (only === undefined) return [...SCENARIOS];
  const wanted = only
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (bad.length > 0) throw new Error(`--only: unknown scenario(s) ${bad.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  return wanted as Scenario[];
}

function openFilesLimit(): string {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  return out.stdout.trim();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      'usage: npm run bench [-- --quick] [-- --only warm,cold,held,kube] [-- --force]\n  --force  run even if the machine is busy (the results are marked noisy)\n',
    );
    return;
  }
  const profile = values.quick === true ? QUICK : FULL;
  const scenarios = parseScenarios(values.only);
  const root = repoRoot();
  const needed = [
    'dist/main.js',
    'build/dev/provider/main.js',
    'build/dev/function/main.js',
    'build/bench/loadgen.js',
    ...(scenarios.includes('warm') ? [NOOP_BINARY] : []),
  ];
  for (const file of needed) {
    if (!existsSync(join(root, file)))
      throw new Error(`${file} is missing: run \`npm run bench\` (it builds everything, see scripts/bench.mjs)`);
  }
  // Before any scenario runs: no control plane is a failure with the install hint, never a skip.
  if (scenarios.includes('kube')) installedKube();

  const scope = createScope();
  // An object, not a `let`: the signal handler sets it, and the catch below must see it.
  const interrupted: { stop: Promise<never> | null } = { stop: null };
  const onSignal = (signal: NodeJS.Signals): void => {
    // A terminal's Ctrl-C reaches this process twice (directly and forwarded by scripts/bench.mjs):
    // the first one starts the clean stop, later ones are ignored, and a watchdog bounds the stop.
    if (interrupted.stop !== null) return;
    log(`${signal}: stopping every process`);
    setTimeout(() => process.exit(1), 30_000).unref(); // 'exit' still SIGKILLs every child (dev/stack/child.ts)
    interrupted.stop = scope.closeAll().then(
      () => process.exit(signal === 'SIGINT' ? 130 : 143),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const quiet = await quietOrForced(cpus().length, values.force === true, log);
  const started = performance.now();
  const envoy = envoyVersion();
  const driver = createDriver(scope, cpuClock());
  const readyTtlMs = 1_000;
  const settings: Record<string, Record<string, string>> = {
    warm: { WAKER_LOG_LEVEL: 'info' },
    cold: {
      WAKER_LOG_LEVEL: 'info',
      WAKER_READY_TTL: `${readyTtlMs}ms`,
      WAKER_HOLD_TIMEOUT: '60s',
      WAKER_MAX_HELD_PER_FUNCTION: String(Math.max(1000, ...profile.cold.sizes)),
    },
    held: { WAKER_LOG_LEVEL: 'info', WAKER_HOLD_TIMEOUT: '60s', WAKER_MAX_HELD_PER_FUNCTION: '1000', WAKER_MAX_HELD_TOTAL: '20000' },
    // The ready entry is only taken away by the watch (a scale to zero seen), never by the TTL (1 h by
    // default in this mode). kube.ts adds WAKER_PROVIDER=kubernetes, WAKER_KUBECONFIG (the control plane's
    // faas-waker user) and the namespaces.
    kube: {
      WAKER_LOG_LEVEL: 'info',
      WAKER_HOLD_TIMEOUT: '60s',
      WAKER_MAX_HELD_PER_FUNCTION: String(Math.max(1000, profile.kube.n)),
    },
  };
  log(
    `profile ${profile.name}, scenarios ${scenarios.join(', ')}, Envoy ${envoy.version}, ${cpus().length} cores, machine ${quiet.busy_pct}% busy before start, load average ${quiet.load_avg.join(' / ')}`,
  );

  let warm: WarmResult | null = null;
  let cold: ColdResult | null = null;
  let held: HeldResult | null = null;
  let kube: KubeResult | null = null;
  try {
    for (const scenario of scenarios) {
      const t0 = performance.now();
      log(`${scenario}: start`);
      try {
        if (scenario === 'warm') warm = await runWarm(profile.warm, settings.warm ?? {}, driver, scope, log);
        if (scenario === 'cold') cold = await runCold(profile.cold, profile.many, settings.cold ?? {}, readyTtlMs, driver, scope, log);
        if (scenario === 'held') held = await runHeld(profile.held, settings.held ?? {}, driver, scope, log);
        if (scenario === 'kube') kube = await runKube(profile.kube, settings.kube ?? {}, driver, scope, log);
      } finally {
        await scope.closeAll();
      }
      log(`${scenario}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    // Interrupted: the scenario failed because its processes were stopped; finish the stop, quietly.
    if (interrupted.stop !== null) await interrupted.stop;
    throw err;
  } finally {
    await scope.closeAll();
  }

  const cpuList = cpus();
  const others = worstNoise({ warm, cold, held, kube });
  const results: Results = {
    schema: 3,
    date: new Date().toISOString(),
    profile: profile.name,
    scenarios,
    machine: {
      cores: cpuList.length,
      cpu_model: cpuList[0]?.model.trim() ?? 'unknown',
      memory_gb: Math.round(totalmem() / 2 ** 30),
      platform: `${process.platform} ${process.arch}`,
      node: process.version,
      open_files_limit: openFilesLimit(),
    },
    envoy: { version: envoy.version, raw: envoy.raw, concurrency: 1 },
    settings: Object.fromEntries(Object.entries(settings).filter(([k]) => (scenarios as string[]).includes(k))),
    duration_s: Math.round((performance.now() - started) / 100) / 10,
    targets: evaluateTargets({ warm, cold, held, kube }),
    warm,
    cold_burst: cold?.bursts ?? null,
    cold_settings: cold?.settings ?? null,
    cold_floors: cold?.floors ?? null,
    cold_first_wakes: cold?.first_wakes ?? null,
    cold_first_wake_detect_lag_p50_ms: cold?.first_wake_detect_lag_p50_ms ?? null,
    many_functions: cold?.many ?? null,
    held,
    kube,
    noise: {
      busy_before_pct: quiet.busy_pct,
      load_avg_before: quiet.load_avg,
      quiet_check: quiet,
      forced: !quiet.quiet && values.force === true,
      max_others_pct: others.pct,
      max_others_in: others.where,
      noisy: !quiet.quiet || (others.pct !== null && others.pct >= NOISY_PCT),
    },
    notes: NOTES,
  };
  const table = renderTable(results);
  process.stdout.write(`\n${table}\n\n`);
  const dir = join(root, 'bench', 'results');
  if (scenarios.length === SCENARIOS.length) {
    const files = writeResults(dir, results);
    const readme = join(root, 'bench', 'README.md');
    const updated = updateReadme(readme, table);
    log(
      `wrote ${files.map((f) => f.slice(root.length + 1)).join(', ')}${updated ? ' and the table in bench/README.md' : ' (bench/README.md has no results markers: table not inserted)'}`,
    );
  } else {
    const files = writeResults(join(dir, 'partial'), results);
    log(`partial run (--only): wrote ${files.map((f) => f.slice(root.length + 1)).join(', ')}; latest.json and README untouched`);
  }
  if (results.noise.noisy)
    log(
      `NOISY RUN: ${quiet.quiet ? '' : `quiet check failed (${quiet.reasons.join('; ')}); `}largest CPU of other processes in a measured window ${others.pct ?? '–'}% of one core (${others.where ?? '–'}). These figures are not the real results.`,
    );
  log(`total ${results.duration_s} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof MachineBusyError) {
      process.stderr.write(`bench refused: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
