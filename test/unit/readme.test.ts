import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config/settings';

/** The README's configuration table is the operator's reference: it must list every setting exactly. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const rows = readme.split('\n').filter((line) => line.startsWith('| `WAKER_'));

test.each(SETTINGS.map((s) => [s.env, s] as const))('README documents %s with its flag and default', (env, spec) => {
  const row = rows.find((r) => r.startsWith(`| \`${env}\``));
  expect(row).toBeDefined();
  if (spec.flag !== undefined) expect(row).toContain(`\`--${spec.flag}\``);
  if (spec.defaultText !== undefined) expect(row).toContain(`\`${spec.defaultText}\``);
  if (spec.kubernetesDefaultText !== undefined)
    expect(row).toContain(`\`${spec.kubernetesDefaultText}\` with \`WAKER_PROVIDER=kubernetes\``);
});

test('the README documents no setting that does not exist', () => {
  const known = new Set(SETTINGS.map((s) => s.env));
  const documented = rows.map((r) => /^\| `(WAKER_[A-Z_]+)`/.exec(r)?.[1]);
  expect(documented.filter((env) => env !== undefined && !known.has(env))).toEqual([]);
});
