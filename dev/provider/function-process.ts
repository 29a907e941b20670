/** One running function: a child process (dev/function/main.js) that reports its port over IPC. */
import { spawn } from 'node:child_process';

export interface FunctionProcess {
  readonly pid: number | null;
  /** Stops the child and resolves once it has exited (SIGKILL if SIGTERM is ignored). */
  stop(): Promise<void>;
  /** Synchronous last resort for `process.on('exit')`, where nothing async runs any more. */
  killNow(): void;
}

export interface SpawnOptions {
  readonly entry: string;
  readonly name: string;
  /** The port to listen on; 0 (the default) lets the child pick one. */
  readonly port?: number;
  readonly onListening: (port: number) => void;
  /** Called when the child exits or fails to start, whether or not `stop()` was called. */
  readonly onExit: (detail: { code: number | null; signal: string | null; error?: string }) => void;
}

const KILL_GRACE_MS = 2_000;

interface ListeningMessage {
  event: 'listening';
  port: number;
}

function isListening(message: unknown): message is ListeningMessage {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  return m['event'] === 'listening' && typeof m['port'] === 'number';
}

export function spawnFunction(opts: SpawnOptions): FunctionProcess {
  // stdout is ignored so the provider's stdout stays a clean JSON event stream; stderr is kept for crashes.
  const child = spawn(process.execPath, [opts.entry, '--name', opts.name, '--port', String(opts.port ?? 0)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    const finish = (detail: Parameters<SpawnOptions['onExit']>[0]): void => {
      if (exited) return;
      exited = true;
      opts.onExit(detail);
      resolve();
    };
    child.once('exit', (code, signal) => finish({ code, signal }));
    // 'error' without 'exit' means the spawn itself failed.
    child.once('error', (err) => {
      if (child.pid === undefined) finish({ code: null, signal: null, error: err.message });
    });
  });
  child.on('message', (message) => {
    if (isListening(message)) opts.onListening(message.port);
  });

  return {
    pid: child.pid ?? null,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      await exitedPromise;
      clearTimeout(timer);
    },
    killNow: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
}
