// `npm run proto`: regenerates src/gen/ from the Envoy API at the release pinned in proto/envoy-api/go.mod.
// Step 1, `go run` in proto/envoy-api: writes the descriptors of the files listed under `paths` in
// proto/buf.gen.yaml (and of their imports) as a binary image, into node_modules/.cache/.
// Step 2, `buf generate` with proto/buf.gen.yaml: ts-proto, for the types listed under `types` only.
// scripts/check-generated.mjs runs the same into a temporary folder and compares.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..');
const template = join(root, 'proto', 'buf.gen.yaml');

/** Generates into `base`/src/gen (the repository's own src/gen by default). */
export function generate(base = root) {
  const [input] = parse(readFileSync(template, 'utf8')).inputs;
  const image = join(root, input.binary_image);
  mkdirSync(dirname(image), { recursive: true });
  try {
    execFileSync(goBinary(), ['run', '.', image, ...input.paths], { cwd: join(root, 'proto', 'envoy-api'), stdio: 'inherit' });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('`npm run proto` needs Go (1.26 or later) on PATH, or its path in GO', { cause: err });
    throw err;
  }
  const out = base === root ? [] : ['-o', base];
  execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate', '--template', template, ...out], { cwd: root, stdio: 'inherit' });
}

function goBinary() {
  if (process.env.GO) return process.env.GO;
  const onPath = (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'go')));
  if (onPath || !existsSync('/usr/local/go/bin/go')) return 'go';
  return '/usr/local/go/bin/go';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) generate();
