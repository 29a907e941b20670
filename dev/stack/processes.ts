import { join } from 'node:path';
import { jsonLine, startChild, type Child } from './child';
import type { ProviderStats } from '../provider/provider';
import { repoRoot } from './repo';

export interface ProviderProcess {
  readonly port: number;
  readonly url: string;
  readonly child: Child;
  stats(): Promise<ProviderStats>;
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
  return {
    port,
    url,
    child,
    stats: async () => (await (await fetch(`${url}/_/stats`)).json()) as ProviderStats,
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
