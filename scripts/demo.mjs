// `npm run demo`: watch a real Envoy wake a sleeping function through faas-waker.
//
// Works on a fresh clone: installs what is missing (npm ci when node_modules is absent, the pinned
// Envoy via scripts/install-envoy.mjs), compiles the service (dist/) and the dev tools (build/), checks
// that the demo's loopback ports are free, then runs dev/demo/demo.ts (compiled to build/dev/demo/).
// No npm dependencies here: this file runs before `npm ci`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run demo [-- --once] [-- --any-ports]

Starts the local provider (functions hello, slow and report.staging, all at zero replicas),
faas-waker and Envoy on loopback, measures one cold and one warm request, prints curl commands
to try, and runs until Ctrl-C.

  --once       measure the two requests, print, stop everything and exit (0 on success)
  --any-ports  use free ephemeral ports instead of the fixed ones below (the real ones are printed)
  --help       this text

Fixed ports (the ones in envoy/envoy.yaml): Envoy 10000, Envoy admin 9901, faas-waker gRPC 50051,
faas-waker admin 9090, local provider 8080. WAKER_* variables in your environment are passed to
faas-waker (except the provider URL and the two addresses), e.g. WAKER_READY_TTL=30s npm run demo.`;

/** The shipped envoy/envoy.yaml's ports, so the printed curl lines are stable. */
const FIXED_PORTS = { envoy: 10000, envoyAdmin: 9901, grpc: 50051, admin: 9090, provider: 8080 };
const ANY_PORTS = { envoy: 0, envoyAdmin: 0, grpc: 0, admin: 0, provider: 0 };
const PORT_OWNERS = {
  envoy: 'Envoy listener',
  envoyAdmin: 'Envoy admin',
  grpc: 'faas-waker gRPC',
  admin: 'faas-waker admin',
  provider: 'local provider',
};

function fail(message, code = 1) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

function parseCli() {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        once: { type: 'boolean', default: false },
        'any-ports': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    return values;
  } catch (err) {
    return fail(`${err.message}\n\n${USAGE}`, 2);
  }
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 18)) fail(`Node.js >= 20.18.1 is required (this is ${process.version})`);
}

/** Resolves with the busy ports' descriptions (empty when all are free). */
async function busyPorts(ports) {
  const busy = [];
  for (const [key, port] of Object.entries(ports)) {
    const free = await new Promise((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => done(true)));
    });
    if (!free) busy.push(`127.0.0.1:${port} (${PORT_OWNERS[key]})`);
  }
  return busy;
}

function step(what, command, args, hint = '') {
  process.stdout.write(`demo: ${what}\n`);
  const r = spawnSync(command, args, { cwd: repoRoot, stdio: 'inherit' });
  if (r.error) fail(`${what}: cannot run ${command}: ${r.error.message}`);
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal})${hint}`);
}

/**
 * tsconfig.tools.json compiles dev/ (which the demo runs) and bench/ (which it does not). tsc still
 * emits when it reports type errors, so errors confined to bench/ only earn a warning.
 */
function buildTools(tsc, hint) {
  const what = 'building the local provider and demo: tsc -p tsconfig.tools.json';
  process.stdout.write(`demo: ${what}\n`);
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.tools.json'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) fail(`${what}: cannot run tsc: ${r.error.message}`);
  if (r.status === 0) return;
  const output = `${r.stdout}${r.stderr}`.trim();
  const errorFiles = [...output.matchAll(/^([^\s(][^(]*)\(\d+,\d+\): error/gm)].map((m) => m[1]);
  const onlyBench = errorFiles.length > 0 && errorFiles.every((file) => file.startsWith('bench/'));
  const emitted = existsSync(join(repoRoot, 'build', 'dev', 'demo', 'demo.js'));
  if (onlyBench && emitted) {
    process.stderr.write(`demo: warning: the benchmark code (bench/) does not compile; the demo does not use it:\n${output}\n`);
    return;
  }
  process.stderr.write(`${output}\n`);
  fail(`${what} failed (exit ${r.status ?? r.signal})${hint}`);
}

/** `npm` as npm itself was started (npm_execpath under `npm run`), else the one on PATH. */
function npmCommand() {
  const cli = process.env.npm_execpath;
  return cli !== undefined && cli.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []];
}

async function main() {
  const cli = parseCli();
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  checkNode();
  const ports = cli['any-ports'] ? ANY_PORTS : FIXED_PORTS;
  if (!cli['any-ports']) {
    const busy = await busyPorts(ports);
    if (busy.length > 0) {
      fail(
        `port(s) already in use: ${busy.join(', ')}.\n` +
          'Another demo or service is running there: stop it (find it with `ss -ltnp`), or run `npm run demo -- --any-ports`.',
      );
    }
  }

  if (!existsSync(join(repoRoot, 'node_modules'))) {
    const [npm, pre] = npmCommand();
    step('node_modules missing: npm ci', npm, [...pre, 'ci', '--no-audit', '--no-fund']);
  }
  step('Envoy: node scripts/install-envoy.mjs', process.execPath, [join(repoRoot, 'scripts', 'install-envoy.mjs')]);
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  // node_modules is only installed when absent: after a pull that changed package-lock.json it can be stale.
  const stale = '\n(if a module is missing, node_modules may predate package-lock.json: run `npm ci`, then try again)';
  step('building faas-waker: tsc -p tsconfig.build.json', process.execPath, [tsc, '-p', 'tsconfig.build.json'], stale);
  buildTools(tsc, stale);

  const require = createRequire(import.meta.url);
  const { runDemo } = require(join(repoRoot, 'build', 'dev', 'demo', 'demo.js'));
  const code = await runDemo({ once: cli.once, ports, env: process.env });
  process.exit(code);
}

main().catch((err) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
