// Makes sure a Chromium is there for the headless-browser test of the waiting page
// (test/e2e/waiting-page-browser.test.ts, driven by playwright-core): Debian's `chromium` package,
// installed with apt-get only when the binary is missing. Nothing is downloaded by Playwright itself
// (playwright-core ships no browser), so the test uses exactly the binary this script checks.
//
//   node scripts/install-chromium.mjs     idempotent; prints what it found or did
//
// CHROMIUM_BIN points at another Chromium (then nothing is installed; it must exist). Fails clearly
// when the binary is missing and there is no apt-get, or we are not root.
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { isExecutableFile } from './lib/files.mjs';

const DEFAULT_BIN = '/usr/bin/chromium';
const PACKAGE = 'chromium';

class InstallError extends Error {}

const log = (msg) => console.log(`chromium:install: ${msg}`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutableFile(join(dir, command)));
}

/** `chromium --version`, or a clear error: a binary that cannot even print its version would fail the test obscurely. */
function version(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  if (r.error) throw new InstallError(`${bin} --version: ${r.error.message}`);
  if (r.status !== 0) throw new InstallError(`${bin} --version failed (exit ${r.status ?? r.signal}): ${`${r.stderr}${r.stdout}`.trim()}`);
  return r.stdout.trim();
}

function aptGet(args) {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) throw new InstallError(`apt-get ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const detail = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new InstallError(`apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${detail}`);
  }
}

function install() {
  if (!onPath('apt-get'))
    throw new InstallError(`${DEFAULT_BIN} is missing and there is no apt-get to install Debian's ${PACKAGE} (set CHROMIUM_BIN)`);
  if (process.getuid?.() !== 0)
    throw new InstallError(`${DEFAULT_BIN} is missing; installing Debian's ${PACKAGE} needs root (or set CHROMIUM_BIN)`);
  const started = Date.now();
  log(`${DEFAULT_BIN} is missing: installing Debian ${PACKAGE} (apt-get update; apt-get install -y --no-install-recommends ${PACKAGE})`);
  // Other installers (docker.io) may hold the dpkg lock: wait for it rather than fail.
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  aptGet(['update', '-qq', ...lock]);
  aptGet(['install', '-y', '-qq', '--no-install-recommends', ...lock, PACKAGE]);
  if (!isExecutableFile(DEFAULT_BIN)) throw new InstallError(`${PACKAGE} installed, but ${DEFAULT_BIN} is still missing`);
  log(`installed in ${seconds(started)}`);
}

try {
  const fromEnv = process.env.CHROMIUM_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutableFile(fromEnv)) throw new InstallError(`CHROMIUM_BIN=${fromEnv} is not an executable file`);
    log(`using CHROMIUM_BIN=${fromEnv} (${version(fromEnv)}); nothing installed`);
  } else if (isExecutableFile(DEFAULT_BIN)) {
    log(`${DEFAULT_BIN} present (${version(DEFAULT_BIN)}); nothing to do`);
  } else {
    install();
    log(`${DEFAULT_BIN}: ${version(DEFAULT_BIN)}`);
  }
} catch (err) {
  if (!(err instanceof InstallError)) throw err;
  console.error(`chromium:install: ${err.message}`);
  process.exit(1);
}
