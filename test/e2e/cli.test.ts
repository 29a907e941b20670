import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config/settings';

/** The built service as an operator starts it: --help, and a bad configuration that lists every problem. */
const main = join(__dirname, '..', '..', 'dist', 'main.js');
const run = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 10_000 });

test('--help lists every setting with its flag, env var and default, and exits 0', () => {
  const res = run(['--help'], {});
  expect(res.status).toBe(0);
  for (const spec of SETTINGS) {
    expect(res.stdout).toContain(spec.env);
    if (spec.flag !== undefined) expect(res.stdout).toContain(`--${spec.flag}`);
    if (spec.defaultText !== undefined) expect(res.stdout).toContain(`default: ${spec.defaultText}`);
  }
});

test('a bad configuration exits 2 and reports every problem at once, before binding anything', () => {
  const res = run(['--hold-timeout', '5', '--bogus'], {
    WAKER_MAX_HELD_PER_FUNCTION: 'lots',
    WAKER_PROVIDER_USER: 'only-user',
    WAKER_PROVIDER_PASSWORD: '',
  });
  expect(res.status).toBe(2);
  expect(res.stderr).toContain('WAKER_PROVIDER_URL (--provider-url): required');
  expect(res.stderr).toContain('unknown flag --bogus');
  expect(res.stderr).toMatch(/WAKER_HOLD_TIMEOUT \(--hold-timeout\): expected a duration/);
  expect(res.stderr).toMatch(/WAKER_MAX_HELD_PER_FUNCTION .*expected a positive integer, got "lots"/);
  expect(res.stderr).toContain('WAKER_PROVIDER_USER and WAKER_PROVIDER_PASSWORD must be set together');
});
