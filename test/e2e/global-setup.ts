import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * e2e tests run the compiled service (dist/), the compiled local provider (build/) and the real Envoy:
 * the pinned binary, or the image ENVOY_DOCKER_IMAGE on a Docker engine (scripts/docker.mjs provides
 * one; `npm test` starts it, builds the images and sets DOCKER_HOST).
 */
export default function globalSetup(): void {
  const root = join(__dirname, '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // npm test builds right before jest; a developer re-running one file can skip the rebuild.
  if (process.env.E2E_SKIP_BUILD !== '1') {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.tools.json'], { cwd: root, stdio: 'inherit' });
    execFileSync(process.execPath, [join(root, 'scripts', 'install-envoy.mjs')], { cwd: root, stdio: 'inherit' });
  }
  const images = [process.env.ENVOY_DOCKER_IMAGE, process.env.FAAS_WAKER_IMAGE].filter((i): i is string => i !== undefined && i !== '');
  if (images.length > 0) dockerSetup(root, images);
}

/** An engine that answers, no leftovers of dead runs, and this run's containers removed when jest exits. */
function dockerSetup(root: string, images: string[]): void {
  const script = join(root, 'scripts', 'docker.mjs');
  if (process.env.DOCKER_HOST === undefined || process.env.DOCKER_HOST === '') {
    const found = spawnSync(process.execPath, [script, 'env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const host = /^export DOCKER_HOST=(\S+)/m.exec(found.stdout)?.[1];
    if (found.status !== 0 || host === undefined) {
      throw new Error(
        `${images.join(', ')} given, but no Docker engine answers: \`node scripts/docker.mjs start\` starts one (npm test does it all)`,
      );
    }
    // Set before the workers start: they inherit it, and so does every docker CLI they run.
    process.env.DOCKER_HOST = host;
  }
  for (const image of images) {
    const r = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { stdio: 'ignore' });
    if (r.status !== 0 && image.startsWith('faas-waker/'))
      throw new Error(`image ${image} is not built on ${process.env.DOCKER_HOST}: run \`node scripts/docker.mjs images\``);
  }
  // Containers are labelled with this run (jest's process); workers inherit the variable.
  process.env.FAAS_WAKER_TEST_RUN = String(process.pid);
  execFileSync(process.execPath, [script, 'sweep'], { stdio: 'inherit' });
  // Jest runs the global setup in its own process, so this runs when jest exits, whatever the outcome.
  process.on('exit', () => {
    spawnSync(process.execPath, [script, 'sweep', '--run', String(process.pid)], { stdio: 'inherit', timeout: 120_000 });
  });
}
