// Validates every Envoy bootstrap in envoy/ with the real Envoy binary (`envoy --mode validate`).
//
// A file counts as a bootstrap when it has a top-level `static_resources:` key (docker-compose.yaml has
// `services:` and is skipped). Validate mode parses strictly (unknown fields and enum values fail) and
// builds listeners, routes and clusters without opening sockets or resolving DNS, so STRICT_DNS hostnames
// such as envoy-compose.yaml's are fine. Not checked by Envoy here: that ext_proc's grpc_service points at
// a defined cluster (test/unit/envoy-config.test.ts checks that). Usage: node scripts/validate-envoy.mjs [file...]
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envoyBinary } from './lib/envoy-path.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const envoyDir = join(repoRoot, 'envoy');

function isBootstrap(file) {
  return /^static_resources:/m.test(readFileSync(file, 'utf8'));
}

let envoy;
try {
  envoy = envoyBinary(repoRoot);
} catch (err) {
  console.error(`envoy:validate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}

const args = process.argv.slice(2);
const files =
  args.length > 0
    ? args.map((f) => resolve(f))
    : readdirSync(envoyDir)
        .filter((name) => /\.ya?ml$/.test(name))
        .sort()
        .map((name) => join(envoyDir, name))
        .filter(isBootstrap);
if (files.length === 0) {
  console.error(`envoy:validate: no Envoy bootstrap files found in ${envoyDir}`);
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  const shown = relative(repoRoot, file);
  const r = spawnSync(envoy, ['--mode', 'validate', '-c', file, '--disable-hot-restart', '--log-level', 'warn'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  if (r.status === 0 && !r.error) {
    console.log(`ok ${shown}`);
  } else {
    failed += 1;
    const detail = (r.error?.message ?? `${r.stderr}${r.stdout}`).trim();
    console.error(`FAIL ${shown} (exit ${r.status ?? r.signal})\n${detail}`);
  }
}
if (failed > 0) {
  console.error(`envoy:validate: ${failed} of ${files.length} config(s) invalid`);
  process.exit(1);
}
