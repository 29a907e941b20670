import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The README's first command must keep working: run the demo once, on free ports, and read what it printed. */
test('npm run demo -- --once wakes a function through the real Envoy and exits 0', () => {
  const root = join(__dirname, '..', '..');
  const run = spawnSync(process.execPath, ['scripts/demo.mjs', '--once', '--any-ports'], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status).toBe(0);
  expect(output).toMatch(/cold\s+GET \S+\/function\/hello\s+->\s+200/);
  expect(output).toMatch(/warm\s+GET \S+\/function\/hello\s+->\s+200/);
  expect(output).toContain('x-faas-waker-cold-start: true');
}, 120_000);
