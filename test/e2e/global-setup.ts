import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** e2e tests run the compiled service (dist/), the compiled local provider (build/) and the real Envoy. */
export default function globalSetup(): void {
  const root = join(__dirname, '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // npm test builds right before jest; a developer re-running one file can skip the rebuild.
  if (process.env.E2E_SKIP_BUILD === '1') return;
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.tools.json'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts', 'install-envoy.mjs')], { cwd: root, stdio: 'inherit' });
}
