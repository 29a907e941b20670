import { copyFileSync, renameSync } from 'node:fs';
import { loadConfig, type Config } from '../../src/config/load';
import { createLogger, type Logger } from '../../src/logging';

/** Shared by the TLS integration tests: configs, captured log lines, and files rotated in place. */

/** A Config from `env` (plus a provider URL nothing dials); throws on a config problem. */
export function configWith(env: Record<string, string>): Config {
  const parsed = loadConfig({ env: { WAKER_PROVIDER_URL: 'http://127.0.0.1:1', ...env }, argv: [] });
  if (parsed.kind !== 'run') throw new Error('config');
  return parsed.config;
}

/** An info-level logger whose JSON lines are kept, parsed, in `lines`. */
export function capture<T>(): { logger: Logger; lines: T[] } {
  const lines: T[] = [];
  return { logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as T) }), lines };
}

/** Replaces `to` the way a kubelet or cert-manager does: complete file, then an atomic rename. */
export function replaceFile(from: string, to: string): void {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
}
