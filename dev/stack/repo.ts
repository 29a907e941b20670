import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root, found from this file whether it runs as TS (jest) or compiled JS (build/). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'faas-waker') return dir;
    dir = dirname(dir);
  }
  throw new Error(`repository root not found above ${__dirname}`);
}

/** ENVOY_BIN, else the binary recorded by scripts/install-envoy.mjs in .envoy/envoy-bin.txt. */
export function envoyBinary(root = repoRoot()): string {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = join(root, '.envoy', 'envoy-bin.txt');
  const recorded = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (recorded !== '' && existsSync(recorded)) return recorded;
  throw new Error('no Envoy binary: run `npm run envoy:install` (or set ENVOY_BIN)');
}
