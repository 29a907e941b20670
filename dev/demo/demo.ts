/** The demo behind `npm run demo`: the local provider with a few functions at zero replicas,
 * faas-waker and the real Envoy, on loopback. It measures one cold and one warm request, prints the
 * curl commands to try, and either stops (`--once`) or runs until Ctrl-C.
 *
 * scripts/demo.mjs installs and builds first, checks the ports, then calls `runDemo` from the compiled
 * build/dev/demo/demo.js. Everything here reuses dev/stack, like the end-to-end tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvoy, type EnvoyProcess } from '../stack/envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from '../stack/processes';
import { followLogs } from './live-log';
import { curlCommands, formatMeasurement, measure, type DemoAddresses } from './report';

/** Loopback ports; 0 means "any free port" (the real one is printed). */
export interface DemoPorts {
  readonly envoy: number;
  readonly envoyAdmin: number;
  readonly grpc: number;
  readonly admin: number;
  readonly provider: number;
}

export interface DemoOptions {
  readonly once: boolean;
  readonly ports: DemoPorts;
  /** The caller's environment: WAKER_* variables are passed to faas-waker (except the addresses). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** `name[.namespace]:startDelayMs` for the local provider; all start at zero replicas. */
export const DEMO_FUNCTIONS = ['hello:1000', 'slow:3000', 'report.staging:500'] as const;

/** Settings the demo owns; anything else WAKER_* from the caller's environment passes through. */
const OWNED = new Set(['WAKER_PROVIDER_URL', 'WAKER_GRPC_ADDRESS', 'WAKER_ADMIN_ADDRESS']);

interface Running {
  /** The admin bearer token file the demo made (POST /wake needs it), unless the caller set one. */
  adminTokenFile?: string;
  provider?: ProviderProcess;
  waker?: WakerProcess;
  envoy?: EnvoyProcess;
}

/** Resolves with the exit code: 0 after `--once` or Ctrl-C, 1 when something failed. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const running: Running = {};
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    await stopStack(running);
  };

  // Until the demo is up and waiting for Ctrl-C, a signal stops whatever already runs and exits.
  const early = (signal: NodeJS.Signals): void => {
    say(`\n${signal}: stopping ...`);
    void stopAll().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);

  try {
    await startDemoStack(options, running);
  } catch (err) {
    process.stderr.write(`\ndemo: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    return 1;
  }
  const { provider, waker, envoy } = running as Required<Running>;
  const at: DemoAddresses = {
    envoy: envoy.port,
    envoyAdmin: envoy.adminPort,
    grpc: waker.grpcPort,
    admin: waker.adminPort,
    provider: provider.port,
    adminTokenFile: running.adminTokenFile ?? '',
  };
  printStack(at);

  const logs = followLogs({ provider: provider.child, waker: waker.child, envoy: envoy.child });
  let failed: boolean;
  try {
    const cold = await measure(`http://127.0.0.1:${at.envoy}/function/hello`);
    const warm = await measure(`http://127.0.0.1:${at.envoy}/function/hello`);
    await logs.settle();
    say('\nWhat faas-waker did, measured just now (hello takes ~1 s to start):');
    say(formatMeasurement('cold', cold));
    say(formatMeasurement('warm', warm));
    failed = cold.status !== 200 || warm.status !== 200;
  } catch (err) {
    process.stderr.write(`demo: request failed: ${err instanceof Error ? err.message : String(err)}\n`);
    failed = true;
  }

  say(`\nTry it yourself:\n\n${curlCommands(at)}\n`);
  if (options.once || failed) {
    logs.stop();
    await stopAll();
    say(failed ? 'demo: FAILED (see above)' : 'demo: --once: stopped everything, bye');
    return failed ? 1 : 0;
  }

  process.removeListener('SIGINT', early);
  process.removeListener('SIGTERM', early);
  say("Running until Ctrl-C. Live log below: Envoy's access log, faas-waker's wake events and the provider's scale events.\n");
  const code = await untilStopped(running, () => stopping);
  logs.stop();
  await stopAll();
  say(code === 0 ? '\ndemo: stopped everything, bye' : '\ndemo: stopped after a failure (see above)');
  return code;
}

async function startDemoStack(options: DemoOptions, running: Running): Promise<void> {
  const { ports } = options;
  say(`Starting the local provider (functions ${DEMO_FUNCTIONS.join(', ')}; all at zero replicas) ...`);
  const functionArgs = DEMO_FUNCTIONS.flatMap((spec) => ['--function', spec]);
  // startProvider passes `--port 0` first; a later --port wins (node:util parseArgs keeps the last value).
  running.provider = await startProvider([...functionArgs, '--port', String(ports.provider)]);

  say('Starting faas-waker ...');
  const passed = passThroughWakerEnv(options.env);
  // POST /wake needs a bearer token; the demo makes one so its pre-warm example works as printed.
  running.adminTokenFile = passed.WAKER_ADMIN_TOKEN_FILE ?? demoTokenFile();
  running.waker = await startWaker({
    ...passed,
    WAKER_ADMIN_TOKEN_FILE: running.adminTokenFile,
    WAKER_PROVIDER_URL: running.provider.url,
    WAKER_GRPC_ADDRESS: `127.0.0.1:${ports.grpc}`,
    WAKER_ADMIN_ADDRESS: `127.0.0.1:${ports.admin}`,
  });

  say('Starting Envoy (envoy/envoy.yaml) ...');
  const envoyAdmin = ports.envoyAdmin;
  running.envoy = await startEnvoy({
    grpcPort: running.waker.grpcPort,
    gatewayPort: running.provider.port,
    listenerPort: ports.envoy,
    // The launcher moves Envoy's admin to an ephemeral port; the demo wants the shipped 9901 back.
    patch: (bootstrap) => {
      const admin = bootstrap.admin as { address: { socket_address: { port_value: number } } };
      admin.address.socket_address.port_value = envoyAdmin;
    },
  });
}

/** A random token in a private temporary file (0600 in a 0700 directory). */
function demoTokenFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'faas-waker-demo-')), 'admin-token');
  writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

/** WAKER_* settings from the caller's shell reach faas-waker, so `WAKER_READY_TTL=30s npm run demo` works. */
function passThroughWakerEnv(env: DemoOptions['env']): Record<string, string> {
  const out: Record<string, string> = {
    WAKER_LOG_LEVEL: 'info',
    // Ctrl-C should be quick: nothing sits in front of the demo that needs a drain period.
    WAKER_DRAIN_DELAY: '0s',
  };
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('WAKER_') && !OWNED.has(key) && value !== undefined) out[key] = value;
  }
  return out;
}

function printStack(at: DemoAddresses): void {
  say(`
Everything is up (loopback only):
  Envoy             http://127.0.0.1:${at.envoy}      ext_proc -> faas-waker, router -> provider
  Envoy admin       http://127.0.0.1:${at.envoyAdmin}
  faas-waker gRPC   127.0.0.1:${at.grpc}            (Envoy's ext_proc cluster "faas_waker")
  faas-waker admin  http://127.0.0.1:${at.admin}       /healthz /readyz /status /metrics, POST /wake/NAME
  local provider    http://127.0.0.1:${at.provider}       /system/* provider API, /function/* proxy, /_/stats
Functions (all at 0 replicas): hello (~1 s start-up), slow (~3 s), report in namespace "staging" (~0.5 s).`);
}

/** Waits for SIGINT/SIGTERM (→ 0) or for a child to die on its own (→ 1). */
function untilStopped(running: Running, stopping: () => boolean): Promise<number> {
  return new Promise<number>((resolve) => {
    // Ctrl-C in a terminal reaches the children too: their exits after a signal are expected.
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      signalled = true;
      say(`\n${signal}: stopping Envoy, faas-waker and the provider ...`);
      // A second Ctrl-C exits at once; dev/stack kills the children on exit.
      process.once('SIGINT', () => process.exit(130));
      resolve(0);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    for (const [name, child] of [
      ['provider', running.provider?.child],
      ['faas-waker', running.waker?.child],
      ['envoy', running.envoy?.child],
    ] as const) {
      void child?.exited.then((code) => {
        if (signalled || stopping()) return;
        process.stderr.write(
          `\ndemo: ${name} exited on its own (code ${String(code)}); last output:\n${child.lines.slice(-10).join('\n')}\n`,
        );
        resolve(1);
      });
    }
  });
}

/** Front to back, so no request reaches a stopped faas-waker or provider. */
async function stopStack(running: Running): Promise<void> {
  const steps: [string, (() => Promise<unknown>) | undefined][] = [
    ['envoy', running.envoy?.stop],
    ['faas-waker', running.waker === undefined ? undefined : () => running.waker?.stop('SIGTERM') ?? Promise.resolve()],
    ['provider', running.provider?.stop],
  ];
  for (const [name, stop] of steps) {
    if (stop === undefined) continue;
    try {
      await stop();
    } catch (err) {
      process.stderr.write(`demo: stopping ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}
