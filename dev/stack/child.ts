import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A child process whose stdout is read as lines; it is killed if this process exits first. */
export interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first stdout line for which `match` returns a value; rejects on exit or timeout. */
  waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
  /** Sends `signal`, waits up to `graceMs`, then SIGKILL. Resolves with the exit code (null if killed). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
let hooked = false;

export interface ChildOptions extends SpawnOptions {
  readonly name: string;
  readonly echo?: boolean;
  /**
   * Open-files limit (soft and hard) for the child and everything it spawns, for load tests that hold
   * thousands of sockets. Raising the hard limit needs CAP_SYS_RESOURCE (a container's root may lack
   * it); without it the soft limit is raised to the hard one. The shell execs the command, so the pid
   * stays the command's.
   */
  readonly maxOpenFiles?: number;
}

/** `sh -c` prefix that sets the open-files limit, then execs the command in the same process. */
function withOpenFiles(command: string, args: readonly string[], maxOpenFiles: number | undefined): [string, readonly string[]] {
  if (maxOpenFiles === undefined) return [command, args];
  const n = String(Math.floor(maxOpenFiles));
  return ['/bin/sh', ['-c', `ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, command, ...args]];
}

export function startChild(command: string, args: readonly string[], options: ChildOptions): Child {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const proc of live) proc.kill('SIGKILL');
    });
  }
  const [file, argv] = withOpenFiles(command, args, options.maxOpenFiles);
  const proc = spawn(file, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    if (options.echo === true) process.stderr.write(`[${options.name}] ${line}\n`);
    for (const listener of listeners) listener(line);
  };
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', onLine);
  if (proc.stderr) createInterface({ input: proc.stderr }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      live.delete(proc);
      resolve(code);
    });
  });

  return {
    proc,
    lines,
    exited,
    waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = (line: string): void => {
          const value = match(line);
          if (value !== undefined) {
            done();
            resolve(value);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`${options.name}: timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${lines.slice(-20).join('\n')}`),
          );
        }, timeoutMs);
        for (const line of lines) {
          const value = match(line);
          if (value !== undefined) {
            done();
            resolve(value);
            return;
          }
        }
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`${options.name} exited (${code}) before ${what}; output:\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<number | null> {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Parses a JSON log line, or undefined for anything else. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
