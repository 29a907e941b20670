import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jsonLine, startChild, type Child } from './child';
import type { WakerProcess } from './processes';

/**
 * Containers for tests (Envoy, faas-waker from its image), through the docker CLI and whatever engine
 * DOCKER_HOST (or the CLI's default) names: scripts/docker.mjs provides one. Every container is named
 * (unique), labelled `faas-waker.test=1` and `faas-waker.run=<run>`, uses host networking, and is removed
 * with `docker rm -f` on stop, on a failed start and when this process exits: killing the `docker run` CLI
 * does not stop its container. `node scripts/docker.mjs sweep` removes what a killed process left behind.
 */

export const TEST_LABEL = 'faas-waker.test';
/** The run a container belongs to: FAAS_WAKER_TEST_RUN (jest's process, set by the e2e global setup), else this pid. */
export const RUN_LABEL = 'faas-waker.run';

const live = new Set<string>();
let hooked = false;
let counter = 0;

export function testRun(): string {
  const run = process.env.FAAS_WAKER_TEST_RUN;
  return run !== undefined && run !== '' ? run : String(process.pid);
}

/** A unique container name: faas-waker-<role>-<pid>-<n>-<random>. */
export function containerName(role: string): string {
  counter += 1;
  return `faas-waker-${role}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

function removeAllSync(): void {
  if (live.size === 0) return;
  spawnSync('docker', ['rm', '-f', ...live], { stdio: 'ignore', timeout: 30_000 });
  live.clear();
}

/** Removes a container (ignoring "no such container"); resolves when the CLI is done. */
export function removeContainer(name: string): Promise<void> {
  return new Promise((resolve) => {
    const proc = spawn('docker', ['rm', '-f', name], { stdio: 'ignore' });
    const done = (): void => {
      live.delete(name);
      resolve();
    };
    proc.once('exit', done);
    proc.once('error', done);
  });
}

export interface Container {
  readonly name: string;
  /** The `docker run` CLI, attached: its output lines are the container's. */
  readonly child: Child;
  /** Sends `signal` to the container through the CLI (SIGKILL: removes it at once), waits, removes it. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  remove(): Promise<void>;
}

export interface RunOptions {
  readonly role: string;
  readonly image: string;
  /** `docker run` options before the image (host networking and the labels are always added). */
  readonly dockerArgs?: readonly string[];
  /** Arguments after the image (the entrypoint's). */
  readonly args?: readonly string[];
  readonly echo?: boolean;
}

/** `docker run --rm --network host --name <unique> --label ...`, attached, as a Child. */
export function runContainer(options: RunOptions): Container {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAllSync);
  }
  const name = containerName(options.role);
  live.add(name);
  const child = startChild(
    'docker',
    [
      'run',
      '--rm',
      '--network',
      'host',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=1`,
      '--label',
      `${RUN_LABEL}=${testRun()}`,
      ...(options.dockerArgs ?? []),
      options.image,
      ...(options.args ?? []),
    ],
    { name: options.role, echo: options.echo ?? false },
  );
  const remove = (): Promise<void> => removeContainer(name);
  return {
    name,
    child,
    remove,
    stop: async (signal = 'SIGTERM', graceMs = 5_000) => {
      if (signal === 'SIGKILL') {
        await remove();
        await child.stop('SIGKILL');
        return null;
      }
      // The CLI proxies the signal to the container's main process; past the grace it is killed, then removed.
      const code = await child.stop(signal, graceMs);
      await remove();
      return code;
    },
  };
}

/**
 * faas-waker from its Docker image (host networking, loopback ephemeral ports), like startWaker() for
 * the process: waits for its `ready` log line.
 */
export async function startWakerContainer(
  image: string,
  env: Record<string, string>,
  echo = false,
): Promise<WakerProcess & { readonly container: Container }> {
  const all = { WAKER_GRPC_ADDRESS: '127.0.0.1:0', WAKER_ADMIN_ADDRESS: '127.0.0.1:0', ...env };
  const container = runContainer({
    role: 'faas-waker',
    image,
    echo,
    dockerArgs: Object.entries(all).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
  });
  const { child } = container;
  try {
    const ports = await child.waitFor(
      (line) => {
        const json = jsonLine(line);
        return json?.event === 'ready' ? { grpc: Number(json.grpcPort), admin: Number(json.adminPort) } : undefined;
      },
      60_000,
      'faas-waker (container) ready',
    );
    return {
      container,
      grpcPort: ports.grpc,
      adminPort: ports.admin,
      child,
      logs: () => child.lines.map(jsonLine).filter((l): l is Record<string, unknown> => l !== undefined),
      admin: (path, init) => fetch(`http://127.0.0.1:${ports.admin}${path}`, init),
      stop: (signal = 'SIGTERM') => container.stop(signal, 30_000),
    };
  } catch (err) {
    await container.stop('SIGKILL');
    throw err;
  }
}
