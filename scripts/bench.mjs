// `npm run bench [-- --quick] [-- --only warm,cold,held,kube] [-- --force]`: installs what is missing (npm
// packages, the pinned Envoy, and for the kube scenario the Kubernetes control plane), builds faas-waker (dist/), the dev tools + benchmark (build/) and the
// Go no-op ext_proc server (bench/noop-extproc -> build/noop-extproc/noop-extproc; needs Go, modules
// from the Go module proxy), then runs build/bench/main.js with the arguments given. The benchmark
// stops every process it starts; this script forwards SIGINT/SIGTERM to it and exits with its code.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const started = performance.now();

function step(label, command, args, { cwd = root, hint = '' } = {}) {
  const t0 = performance.now();
  try {
    execFileSync(command, args, { cwd, stdio: 'inherit' });
  } catch {
    console.error(`npm run bench: step "${label}" failed${hint === '' ? '' : `: ${hint}`}`);
    process.exit(1);
  }
  console.error(`[bench] ${label}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (!existsSync(bin('tsc'))) step('install npm packages', 'npm', ['ci', '--no-audit', '--no-fund']);
step('install Envoy', process.execPath, ['scripts/install-envoy.mjs']);
// The kube scenario (in every full run, or named in --only) needs the control plane, like npm test.
const only = process.argv
  .slice(2)
  .flatMap((arg, i, all) => (arg === '--only' ? [all[i + 1] ?? ''] : arg.startsWith('--only=') ? [arg.slice('--only='.length)] : []));
if (
  only.length === 0 ||
  only.some((list) =>
    list
      .split(',')
      .map((s) => s.trim())
      .includes('kube'),
  )
) {
  step('install the Kubernetes control plane', process.execPath, ['scripts/install-kube.mjs']);
}
step('build faas-waker', bin('tsc'), ['-p', 'tsconfig.build.json']);
step('build dev tools and benchmark', bin('tsc'), ['-p', 'tsconfig.tools.json']);
// The warm scenario's floor: a no-op ext_proc server in Go. go.sum pins every module; the first build
// downloads them from the Go module proxy into the module cache, later builds are cached.
step(
  'build no-op ext_proc server (Go)',
  'go',
  ['build', '-trimpath', '-buildvcs=false', '-o', join(root, 'build', 'noop-extproc', 'noop-extproc'), '.'],
  {
    cwd: join(root, 'bench', 'noop-extproc'),
    hint: 'it needs Go (go.mod says which version) on PATH and the Go module proxy',
  },
);

// 1,000-request bursts and 10,000 held requests need many sockets: raise the soft open-files limit
// to the hard one for the whole process tree (a no-op where they are equal).
const args = [join(root, 'build', 'bench', 'main.js'), ...process.argv.slice(2)];
const child = existsSync('/bin/bash')
  ? spawn('/bin/bash', ['-c', 'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...args], {
      cwd: root,
      stdio: 'inherit',
    })
  : spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}

child.on('exit', (code, signal) => {
  console.error(`[bench] npm run bench: ${((performance.now() - started) / 1000).toFixed(1)} s wall time in all (builds included)`);
  process.exit(code ?? (signal === null ? 1 : 128 + (signal === 'SIGINT' ? 2 : 15)));
});
