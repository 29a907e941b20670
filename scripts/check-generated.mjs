// Regenerates the ext_proc TypeScript into a temporary folder and fails if it differs from src/gen/
// (someone edited generated code, or changed proto/ or bumped ts-proto/buf without `npm run proto`).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { generate } from '../proto/generate.mjs';

const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'faas-waker-gen-'));
try {
  generate(out);
  const a = listFiles(join(root, 'src', 'gen'));
  const b = listFiles(join(out, 'src', 'gen'));
  const problems = [];
  for (const file of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(file) !== b.get(file))
      problems.push(a.has(file) ? (b.has(file) ? `differs: ${file}` : `not generated any more: ${file}`) : `missing: ${file}`);
  }
  if (problems.length > 0) {
    console.error(`src/gen is not what \`npm run proto\` generates:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log(`src/gen matches the generator (${a.size} files)`);
  }
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
