// `npm test`: everything CI checks, on a fresh clone too. Installs what is missing (npm packages, the
// pinned Envoy, the Kubernetes control plane, a Docker engine), checks generated code, types, lint and the
// shipped Envoy configs, builds, then runs the jest projects (unit, integration, e2e, kube) with the Envoy
// binary, and the e2e project a second time with Envoy in a container (and faas-waker from the image the
// project's Dockerfile builds, in test/e2e/docker-image.test.ts). Prints one "N passed, N failed" line, last.
//
//   node scripts/test.mjs                 everything
//   node scripts/test.mjs unit e2e        only these jest projects (e2e: both runs), after the same checks
//
// The second e2e run uses ENVOY_DOCKER_IMAGE when it is set (e.g. envoyproxy/envoy:v1.40.0 where a
// registry is reachable), else the image scripts/docker.mjs builds from the pinned binary. No Docker
// engine at all is a failure, not a skip.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages, ENVOY_IMAGE, ensureEngine, sweep, WAKER_IMAGE } from './docker.mjs';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const step = (label) => {
  console.log(`\n== ${label}`);
  return Date.now();
};
const failStep = (label, err) => {
  if (err !== undefined) console.error(err instanceof Error ? err.message : String(err));
  console.error(`\nnpm test: step "${label}" failed`);
};
const run = (label, command, args) => {
  const started = step(label);
  try {
    execFileSync(command, args, { cwd: root, stdio: 'inherit' });
  } catch {
    failStep(label);
    process.exit(1);
  }
  console.log(`   (${seconds(started)})`);
};

/** A command the tests need from a Debian package: installed with apt-get when it is missing. */
function ensureCommand(command, args, pkg) {
  const label = `${command} (Debian package ${pkg})`;
  const started = step(label);
  const probe = () => spawnSync(command, args, { encoding: 'utf8' });
  let r = probe();
  if (r.error !== undefined || r.status !== 0) {
    console.log(`   ${command} is missing: apt-get install -y ${pkg}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const aptArgs of [
      ['update', '-qq'],
      ['install', '-y', '-qq', '--no-install-recommends', pkg],
    ]) {
      const apt = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...aptArgs], { stdio: 'inherit', env });
      if (apt.status !== 0) {
        failStep(label, new Error(`apt-get ${aptArgs.join(' ')} failed; install ${pkg} by hand`));
        process.exit(1);
      }
    }
    r = probe();
    if (r.error !== undefined || r.status !== 0) {
      failStep(label, new Error(`${command} still does not run after installing ${pkg}`));
      process.exit(1);
    }
  }
  console.log(`   ${r.stdout.trim().split('\n')[0] ?? ''} (${seconds(started)})`);
}

const ALL_PROJECTS = ['unit', 'integration', 'e2e', 'kube'];
const projects = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL_PROJECTS;
const withE2e = projects.includes('e2e');

console.log(`node ${process.version} (${process.execPath})`);
// Any dev dependency missing (a fresh clone, or node_modules from before it was added): install them all.
const packages = ['.bin/jest', 'fast-check', 'playwright-core', 'undici'];
if (packages.some((p) => !existsSync(join(root, 'node_modules', p)))) run('install npm packages', 'npm', ['ci', '--no-audit', '--no-fund']);
// The TLS tests make their certificates with the openssl CLI (Debian's openssl package).
if (projects.includes('integration') || withE2e) ensureCommand('openssl', ['version'], 'openssl');
if (withE2e) run('install Chromium (the waiting-page browser test)', process.execPath, ['scripts/install-chromium.mjs']);
run('install Envoy', process.execPath, ['scripts/install-envoy.mjs']);
if (projects.includes('kube')) run('install the Kubernetes control plane', process.execPath, ['scripts/install-kube.mjs']);
run('generated code is up to date', process.execPath, ['scripts/check-generated.mjs']);
run('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
run('lint', bin('eslint'), ['.']);
run('format (prettier --check; npm run format fixes it)', bin('prettier'), ['--check', '--log-level', 'warn', '.']);
run('build', bin('tsc'), ['-p', 'tsconfig.build.json']);
run('build dev tools', bin('tsc'), ['-p', 'tsconfig.tools.json']);
run('validate shipped Envoy configs', process.execPath, ['scripts/validate-envoy.mjs']);

// ---- the Docker engine and images (for the second e2e run) -----------------------------------------

let engine;
let interrupted = false;
const userEnvoyImage = process.env.ENVOY_DOCKER_IMAGE ?? '';
const envoyImage = userEnvoyImage !== '' ? userEnvoyImage : ENVOY_IMAGE;
if (withE2e) {
  const label = 'Docker engine and images (Envoy, node base, ./Dockerfile)';
  const started = step(label);
  try {
    engine = await ensureEngine({ log: (m) => console.log(m) });
    console.log(`docker: ${engine.source} at ${engine.host} (engine ${engine.version})`);
    sweep(engine.host, { log: (m) => console.log(m) });
    buildImages({ host: engine.host, envoy: userEnvoyImage === '', log: (m) => console.log(m) });
  } catch (err) {
    failStep(label, err);
    console.error(
      'npm test: the dockerized e2e run needs a Docker engine (DOCKER_HOST, /var/run/docker.sock, or root with apt-get to install docker.io)',
    );
    await engine?.release();
    process.exit(1);
  }
  console.log(`   (${seconds(started)})`);
}

// ---- jest runs ---------------------------------------------------------------------------------------

let current;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill('SIGTERM');
  });
}

/** One jest invocation; resolves with its counts (from --json). */
async function jest(label, args, env) {
  const dir = mkdtempSync(join(tmpdir(), 'faas-waker-jest-'));
  const report = join(dir, 'report.json');
  const started = step(`tests: ${label}`);
  const child = spawn(bin('jest'), ['--ci', '--json', '--outputFile', report, ...args], { cwd: root, stdio: 'inherit', env });
  current = child;
  const status = await new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  current = undefined;
  let counts = { passed: 0, failed: 1, skipped: 0, note: 'jest produced no report' };
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    counts = { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests, note: '' };
    if (r.numTotalTests === 0) counts = { passed: 0, failed: 1, skipped: 0, note: 'no tests ran' };
    else if (status !== 0 && r.numFailedTests === 0)
      counts = { ...counts, failed: 1, note: `jest exited ${status} (a suite failed to run)` };
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `\n${label}: ${counts.passed} passing, ${counts.failed} failing, ${counts.skipped} skipped${counts.note ? ` (${counts.note})` : ''} in ${seconds(started)}`,
  );
  return counts;
}

const baseEnv = { ...process.env, E2E_SKIP_BUILD: '1' };
delete baseEnv.ENVOY_DOCKER_IMAGE;
delete baseEnv.FAAS_WAKER_IMAGE;
const results = [];
try {
  // Run 1: every selected project, the Envoy binary; the image test belongs to the docker run only.
  results.push(
    await jest(
      `${projects.join(', ')} (Envoy binary)`,
      ['--selectProjects', ...projects, '--testPathIgnorePatterns', '/test/e2e/docker-image\\.test\\.ts$'],
      baseEnv,
    ),
  );
  // Run 2: the e2e project again, Envoy in a container, plus faas-waker from its image.
  if (withE2e && !interrupted) {
    results.push(
      await jest(`e2e (Envoy in a container: ${envoyImage}; faas-waker image ${WAKER_IMAGE})`, ['--selectProjects', 'e2e'], {
        ...baseEnv,
        DOCKER_HOST: engine.host,
        ENVOY_DOCKER_IMAGE: envoyImage,
        FAAS_WAKER_IMAGE: WAKER_IMAGE,
      }),
    );
  }
} finally {
  if (engine !== undefined) {
    try {
      sweep(engine.host, { log: (m) => console.log(m) });
    } catch (err) {
      console.error(`docker: sweep failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await engine.release();
  }
}

const total = results.reduce((a, r) => ({ passed: a.passed + r.passed, failed: a.failed + r.failed, skipped: a.skipped + r.skipped }), {
  passed: 0,
  failed: interrupted ? 1 : 0,
  skipped: 0,
});
console.log(`\n${total.passed} passed, ${total.failed} failed${total.skipped > 0 ? `, ${total.skipped} skipped` : ''}`);
process.exit(total.failed === 0 && !interrupted ? 0 : 1);
