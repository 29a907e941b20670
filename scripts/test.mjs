// `npm test`: everything CI checks, on a fresh clone too. Installs what is missing (npm packages,
// the pinned Envoy), checks generated code, types, lint and the shipped Envoy configs, builds, then
// runs the unit, integration and end-to-end (real Envoy) tests and prints one "N passed, N failed" line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (label, command, args) => {
  console.log(`\n== ${label}`);
  try {
    execFileSync(command, args, { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`\nnpm test: step "${label}" failed`);
    process.exit(1);
  }
};

if (!existsSync(join(root, 'node_modules', '.bin', 'jest'))) run('install npm packages', 'npm', ['ci', '--no-audit', '--no-fund']);
run('install Envoy', process.execPath, ['scripts/install-envoy.mjs']);
run('generated code is up to date', process.execPath, ['scripts/check-generated.mjs']);
run('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
run('lint', bin('eslint'), ['.']);
run('build', bin('tsc'), ['-p', 'tsconfig.build.json']);
run('build dev tools', bin('tsc'), ['-p', 'tsconfig.tools.json']);
run('validate shipped Envoy configs', process.execPath, ['scripts/validate-envoy.mjs']);

const projects = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'faas-waker-jest-'));
const report = join(dir, 'report.json');
console.log(`\n== tests${projects.length > 0 ? ` (${projects.join(', ')})` : ''}`);
const jest = spawnSync(bin('jest'), ['--ci', '--json', '--outputFile', report, ...(projects.length > 0 ? ['--selectProjects', ...projects] : [])], { cwd: root, stdio: 'inherit' });
let summary = 'jest produced no report';
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed${r.numPendingTests + r.numTodoTests > 0 ? `, ${r.numPendingTests + r.numTodoTests} skipped` : ''}`;
  if (r.numTotalTests === 0) summary = '0 passed, 1 failed (no tests ran)';
}
rmSync(dir, { recursive: true, force: true });
console.log(`\n${summary}`);
process.exit(jest.status === 0 && !summary.includes('no tests ran') ? 0 : 1);
