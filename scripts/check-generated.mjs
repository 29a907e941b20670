// Regenerates the ext_proc TypeScript into a temporary folder and fails if it differs from src/gen/
// (someone edited generated code, or bumped ts-proto/@grpc/grpc-js-xds without `npm run proto`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'faas-waker-gen-'));
const template = join(out, 'buf.gen.yaml');
writeFileSync(template, readFileSync(join(root, 'buf.gen.yaml'), 'utf8').replace(/out: src\/gen/, `out: ${join(out, 'gen')}`));
try {
  execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate', '--template', template, '--path', 'node_modules/@grpc/grpc-js-xds/deps/envoy-api/envoy/service/ext_proc/v3/external_processor.proto'], { cwd: root, stdio: 'inherit' });
  const a = listFiles(join(root, 'src', 'gen'));
  const b = listFiles(join(out, 'gen'));
  const problems = [];
  for (const file of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(file) !== b.get(file)) problems.push(a.has(file) ? (b.has(file) ? `differs: ${file}` : `not generated any more: ${file}`) : `missing: ${file}`);
  }
  if (problems.length > 0) {
    console.error(`src/gen is not what \`npm run proto\` generates:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`src/gen matches the generator (${a.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}

function listFiles(dir) {
  const files = new Map();
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return files;
}
