import { join } from 'node:path';
import { jsonLine, startChild, type Child } from './child';
import type { FunctionStats } from '../provider/function-registry';
import type { ProviderStats } from '../provider/provider';
import { repoRoot } from './repo';

export interface ProviderProcess {
  readonly port: number;
  readonly url: string;
  readonly child: Child;
  stats(): Promise<ProviderStats>;
  /** One function's counters (`name.namespace`); throws if the provider does not know it. */
  functionStats(key: string): Promise<FunctionStats>;
  hook(path: string, body?: unknown): Promise<unknown>;
  stop(): Promise<number | null>;
}

/** Starts the local provider (dev/provider, compiled to build/) as a real process on an ephemeral port. */
export async function startProvider(args: readonly string[], echo = false, maxOpenFiles?: number): Promise<ProviderProcess> {
  const child = startChild(process.execPath, [join(repoRoot(), 'build/dev/provider/main.js'), '--port', '0', ...args], {
    name: 'provider',
    echo,
    maxOpenFiles,
  });
  const port = await child.waitFor(
    (line) => {
      const json = jsonLine(line);
      return json?.event === 'listening' ? Number(json.port) : undefined;
    },
    15_000,
    'provider listening',
  );
  const url = `http://127.0.0.1:${port}`;
  const stats = async (): Promise<ProviderStats> => (await (await fetch(`${url}/_/stats`)).json()) as ProviderStats;
  return {
    port,
    url,
    child,
    stats,
    functionStats: async (key) => {
      const found = (await stats()).functions[key];
      if (found === undefined) throw new Error(`the local provider has no stats for ${key}`);
      return found;
    },
    hook: async (path, body) => {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        body: JSON.stringify(body ?? {}),
        headers: { 'content-type': 'application/json' },
      });
      return res.json();
    },
    stop: () => child.stop('SIGTERM', 5_000),
  };
}

export interface WakerProcess {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly child: Child;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  admin(path: string, init?: RequestInit): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** One sample of a faas-waker's /metrics by full name with labels (`name{label="v"}`); 0 when absent. */
export async function wakerMetric(waker: Pick<WakerProcess, 'admin'>, name: string): Promise<number> {
  const text = await (await waker.admin('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** Starts faas-waker itself (`node dist/main.js`) with loopback ephemeral ports and the given env. */
export async function startWaker(env: Record<string, string>, echo = false, maxOpenFiles?: number): Promise<WakerProcess> {
  const child = startChild(process.execPath, [join(repoRoot(), 'dist/main.js')], {
    name: 'faas-waker',
    echo,
    maxOpenFiles,
    env: { PATH: process.env.PATH ?? '', WAKER_GRPC_ADDRESS: '127.0.0.1:0', WAKER_ADMIN_ADDRESS: '127.0.0.1:0', ...env },
  });
  const ports = await child.waitFor(
    (line) => {
      const json = jsonLine(line);
      return json?.event === 'ready' ? { grpc: Number(json.grpcPort), admin: Number(json.adminPort) } : undefined;
    },
    15_000,
    'faas-waker ready',
  );
  return {
    grpcPort: ports.grpc,
    adminPort: ports.admin,
    child,
    logs: () => child.lines.map(jsonLine).filter((l): l is Record<string, unknown> => l !== undefined),
    admin: (path, init) => fetch(`http://127.0.0.1:${ports.admin}${path}`, init),
    stop: (signal = 'SIGTERM') => child.stop(signal, 30_000),
  };
}

export interface DemoFunction {
  readonly child: Child;
  /** HTTP/1 (and WebSocket) port. */
  readonly port: number;
  /** The h2c gRPC echo's port, when started with `grpc`. */
  readonly grpcPort: number | undefined;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** The demo function (dev/function) as its own process on loopback, for tests that route Envoy to it directly. */
export async function startDemoFunction(name: string, options: { grpc?: boolean } = {}): Promise<DemoFunction> {
  const args = [
    join(repoRoot(), 'build/dev/function/main.js'),
    '--name',
    name,
    '--port',
    '0',
    ...(options.grpc === true ? ['--grpc-port', '0'] : []),
  ];
  const child = startChild(process.execPath, args, { name: 'function' });
  const ports = await child.waitFor(
    (line) => {
      const json = jsonLine(line);
      if (json?.event !== 'listening') return undefined;
      return { port: Number(json.port), grpcPort: json.grpcPort === undefined ? undefined : Number(json.grpcPort) };
    },
    15_000,
    'function listening',
  );
  if (options.grpc === true && ports.grpcPort === undefined) throw new Error('the demo function did not report its gRPC port');
  return { child, ...ports, stop: (signal, graceMs) => child.stop(signal, graceMs) };
}
