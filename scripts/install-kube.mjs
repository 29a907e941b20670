// Builds a real Kubernetes control plane for the Kubernetes test suite, with no npm dependencies and
// nothing fetched outside the Go module proxy: kube-apiserver, kube-controller-manager, kube-scheduler
// (k8s.io/kubernetes), etcd and kwok (the fake kubelet), plus the kwok stage files kwok needs.
//
// Everything goes into a cache directory OUTSIDE the clone (the binaries are ~380 MB):
//   ${FAAS_WAKER_KUBE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/faas-waker/kube-v1.37.2}
//     bin/{kube-apiserver,kube-controller-manager,kube-scheduler,etcd,kwok}
//     stages/*.yaml       kwok Stage objects, copied from the kwok module in the Go module cache
//     src/{kube,etcd}/    the generated Go modules the binaries are built from
//     stamp.json          what was built, with which versions (read by dev/stack/kube.ts)
// Go's own caches (module cache, build cache) stay in Go's default locations (~5.4 GB when warm).
//
// Idempotent: a component whose stamp entry matches and whose files exist is skipped. A cold build takes
// ~8-14 min on 2 cores and peaks at ~2.7 GB RAM (the linker); run it with `nice -n 19` on a shared machine.
// Facts and traps: ../shared/reference/kubernetes-control-plane.md (k8s staging modules, etcd's replaces).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { join } from 'node:path';
import { isExecutableFile } from './lib/files.mjs';

const KUBE_VERSION = 'v1.37.2';
const STAGING_VERSION = 'v0.37.2';
const ETCD_VERSION = 'v3.7.3';
const KWOK_VERSION = 'v0.8.0';
const MIN_GO = [1, 26];
/** Bump when what the script produces changes (build flags), so old caches are rebuilt. */
const RECIPE = 2;
/** Bump when the stage files change. */
const STAGES_RECIPE = 2;

/** Staging modules that the k8s.io/kubernetes go.mod replaces but that are not published / not needed. */
const STAGING_NOT_SERVED = new Set(['k8s.io/sample-cli-plugin', 'k8s.io/sample-controller']);

const KUBE_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** kwok stage files: [file in the cache's stages/, path inside the kwok module]. */
const STAGES = [
  ['node-initialize.yaml', 'kustomize/stage/node/fast/node-initialize.yaml'],
  ['node-heartbeat-with-lease.yaml', 'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml'],
  ['pod-ready.yaml', 'kustomize/stage/pod/fast/pod-ready.yaml'],
  ['pod-complete.yaml', 'kustomize/stage/pod/fast/pod-complete.yaml'],
  ['pod-delete.yaml', 'kustomize/stage/pod/fast/pod-delete.yaml'],
];
/** The per-pod ready delay annotation, read the same way kwok's shipped "general" pod-ready stage reads it. */
const POD_READY_DELAY_ANNOTATION = 'pod-ready.stage.kwok.x-k8s.io/delay';

function kubeCacheDir(env = process.env) {
  if (env.FAAS_WAKER_KUBE_DIR) return env.FAAS_WAKER_KUBE_DIR;
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'faas-waker', `kube-${KUBE_VERSION}`);
}

class InstallError extends Error {}

const started = Date.now();
const dir = kubeCacheDir();
const binDir = join(dir, 'bin');
const stampFile = join(dir, 'stamp.json');

function log(msg) {
  console.log(`kube:install: ${msg}`);
}

function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Environment for every go command: Go's default caches, no surprise toolchain download, no VCS stamping. */
function goEnv(extra = {}) {
  return { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0', GO111MODULE: 'on', ...extra };
}

function runSync(cmd, args, what, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.error) throw new InstallError(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const detail = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-20).join('\n');
    throw new InstallError(`${what} failed (exit ${r.status ?? r.signal}):\n${detail}`);
  }
  return r.stdout;
}

/** Runs a long command, printing a heartbeat every minute; rejects with the output's tail on failure. */
function runLong(cmd, args, what, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const t0 = Date.now();
    log(`${what}: ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const keep = (chunk) => {
      out = (out + chunk.toString()).slice(-64 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const beat = setInterval(() => log(`${what}: still running (${secs(Date.now() - t0)})`), 60_000);
    child.on('error', (err) => {
      clearInterval(beat);
      reject(new InstallError(`${what}: cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(beat);
      if (code === 0) {
        log(`${what}: done in ${secs(Date.now() - t0)}`);
        resolvePromise(out);
      } else {
        const detail = out.trim().split('\n').slice(-30).join('\n');
        reject(new InstallError(`${what} failed (exit ${code ?? signal}) after ${secs(Date.now() - t0)}:\n${detail}`));
      }
    });
  });
}

function checkGo() {
  let out;
  try {
    out = runSync('go', ['env', 'GOVERSION', 'GOMODCACHE'], 'go env', { env: goEnv() });
  } catch (err) {
    throw new InstallError(`${err.message}\nneeds Go >= ${MIN_GO.join('.')} on PATH (https://go.dev/dl/)`);
  }
  const [goVersion = '', modCache = ''] = out.trim().split('\n');
  const m = /^go(\d+)\.(\d+)/.exec(goVersion);
  if (!m) throw new InstallError(`cannot parse the Go version "${goVersion}"`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) {
    throw new InstallError(`k8s.io/kubernetes ${KUBE_VERSION} needs Go >= ${MIN_GO.join('.')}; found ${goVersion}`);
  }
  return { goVersion, modCache };
}

function readStamp() {
  try {
    const s = JSON.parse(readFileSync(stampFile, 'utf8'));
    return typeof s === 'object' && s !== null && typeof s.components === 'object' ? s : { components: {} };
  } catch {
    return { components: {} };
  }
}

function writeStamp(stamp) {
  const tmp = `${stampFile}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(tmp, stampFile);
}

/** True when the stamp entry `have` was built from the same inputs as `want` (extra stamp fields ignored). */
function sameRecord(have, want) {
  return typeof have === 'object' && have !== null && Object.entries(want).every(([k, v]) => have[k] === v);
}

/** Downloads a module (if needed) and returns its go.mod path and source directory in the module cache. */
function downloadModule(mod, goVersion) {
  const out = runSync('go', ['mod', 'download', '-json', mod], `go mod download ${mod}`, { env: goEnv(), cwd: dir });
  const info = JSON.parse(out);
  if (info.Error) throw new InstallError(`go mod download ${mod}: ${info.Error}`);
  if (!info.GoMod || !info.Dir) throw new InstallError(`go mod download ${mod} (${goVersion}) returned no GoMod/Dir`);
  return info;
}

/**
 * The staging modules to replace with their published versions: every `k8s.io/X => ./staging/...` replace
 * in the k8s.io/kubernetes go.mod that is also in its require list (the unpublished samples are not).
 */
function stagingModules(kubeGoMod) {
  const text = readFileSync(kubeGoMod, 'utf8');
  const staged = new Set();
  for (const m of text.matchAll(/^\s*(?:replace\s+)?(\S+)\s+=>\s+\.\/staging\/\S+\s*$/gm)) staged.add(m[1]);
  const required = new Set();
  for (const m of text.matchAll(/^\s*(?:require\s+)?(\S+)\s+v0\.0\.0(?:\s*\/\/.*)?$/gm)) required.add(m[1]);
  const mods = [...staged].filter((p) => required.has(p) && !STAGING_NOT_SERVED.has(p)).sort();
  // Local replaces other than staging cannot be honoured from outside the kubernetes repository.
  for (const m of text.matchAll(/^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.\.?\/\S+)\s*$/gm)) {
    if (!m[2].startsWith('./staging/')) throw new InstallError(`k8s.io/kubernetes go.mod has an unexpected local replace: ${m[0].trim()}`);
  }
  if (mods.length < 25) throw new InstallError(`found only ${mods.length} staging modules in ${kubeGoMod}; the go.mod format changed?`);
  return mods;
}

function kubeLdflags() {
  const [maj, min] = KUBE_VERSION.replace(/^v/, '').split('.');
  const vars = { gitVersion: KUBE_VERSION, gitMajor: maj, gitMinor: min, gitTreeState: 'clean' };
  const x = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    for (const [k, v] of Object.entries(vars)) x.push(`-X ${pkg}.${k}=${v}`);
  }
  return `-s -w ${x.join(' ')}`;
}

/** Writes a generated module whose tools.go imports the commands, then `go mod tidy`s it. */
async function prepareModule(name, goMod, imports) {
  const src = join(dir, 'src', name);
  mkdirSync(src, { recursive: true });
  const tools = `//go:build tools\n\n// Generated by scripts/install-kube.mjs: pins the commands built from this module.\npackage tools\n\nimport (\n${imports.map((i) => `\t_ "${i}"`).join('\n')}\n)\n`;
  const goModPath = join(src, 'go.mod');
  const previous = existsSync(goModPath) ? readFileSync(goModPath, 'utf8') : undefined;
  // Keep a tidied go.mod (and go.sum) when the head we generate is unchanged.
  if (previous === undefined || !previous.startsWith(goMod)) {
    writeFileSync(goModPath, goMod);
    rmSync(join(src, 'go.sum'), { force: true });
  }
  writeFileSync(join(src, 'tools.go'), tools);
  await runLong('go', ['mod', 'tidy'], `${name}: go mod tidy`, { cwd: src, env: goEnv() });
  return src;
}

async function buildInto(src, what, pkgs, ldflags, outputs) {
  const tmp = join(binDir, `.tmp-${what}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const args = ['build', '-trimpath', ...(ldflags ? ['-ldflags', ldflags] : []), '-o', `${tmp}/`, ...pkgs];
  await runLong('go', args, `${what}: go build`, { cwd: src, env: goEnv() });
  for (const [built, final] of outputs) {
    const from = join(tmp, built);
    if (!isExecutableFile(from)) throw new InstallError(`${what}: go build produced no ${built}`);
    renameSync(from, join(binDir, final));
  }
  rmSync(tmp, { recursive: true, force: true });
}

function checkVersion(bin, args, re, what) {
  const out = runSync(join(binDir, bin), args, `${bin} ${args.join(' ')}`, { timeout: 30_000 });
  if (!re.test(out)) throw new InstallError(`${bin} does not report ${what}:\n${out.trim()}`);
}

async function buildKube(goVersion) {
  const kube = downloadModule(`k8s.io/kubernetes@${KUBE_VERSION}`, goVersion);
  const mods = stagingModules(kube.GoMod);
  log(`kubernetes: replacing ${mods.length} staging modules with their published ${STAGING_VERSION}`);
  const goMod = [
    '// Generated by scripts/install-kube.mjs. Do not edit.',
    'module faas-waker.local/kube-control-plane',
    '',
    'go 1.26.0',
    '',
    'godebug default=go1.26',
    '',
    `require k8s.io/kubernetes ${KUBE_VERSION}`,
    '',
    'replace (',
    ...mods.map((m) => `\t${m} => ${m} ${STAGING_VERSION}`),
    ')',
    '',
  ].join('\n');
  const src = await prepareModule(
    'kube',
    goMod,
    KUBE_COMMANDS.map((c) => `k8s.io/kubernetes/cmd/${c}`),
  );
  // One command at a time: the packages they share are compiled once (Go's build cache), and only one
  // linker runs at a time (~2.7 GB peak instead of ~4 GB when the three link in parallel).
  for (const c of KUBE_COMMANDS) await buildInto(src, c, [`k8s.io/kubernetes/cmd/${c}`], kubeLdflags(), [[c, c]]);
  for (const c of KUBE_COMMANDS)
    checkVersion(c, ['--version'], new RegExp(`Kubernetes ${KUBE_VERSION.replace(/\./g, '\\.')}\\b`), `Kubernetes ${KUBE_VERSION}`);
  return { stagingModules: mods.length };
}

async function buildEtcd() {
  const mods = [
    'go.etcd.io/etcd/server/v3',
    'go.etcd.io/etcd/api/v3',
    'go.etcd.io/etcd/client/v3',
    'go.etcd.io/etcd/client/pkg/v3',
    'go.etcd.io/etcd/pkg/v3',
  ];
  const goMod = [
    '// Generated by scripts/install-kube.mjs. Do not edit.',
    '// etcd/server go.mod replaces ../api etc., so `go install ...@version` cannot build it; this module pins them.',
    'module faas-waker.local/etcd',
    '',
    'go 1.26.0',
    '',
    'require (',
    ...mods.map((m) => `\t${m} ${ETCD_VERSION}`),
    ')',
    '',
  ].join('\n');
  const src = await prepareModule('etcd', goMod, ['go.etcd.io/etcd/server/v3']);
  await buildInto(src, 'etcd', ['go.etcd.io/etcd/server/v3'], '-s -w', [['server', 'etcd']]);
  checkVersion(
    'etcd',
    ['--version'],
    new RegExp(`etcd Version: ${ETCD_VERSION.replace(/^v/, '').replace(/\./g, '\\.')}\\b`),
    `etcd ${ETCD_VERSION}`,
  );
  return {};
}

async function buildKwok() {
  const tmp = join(binDir, '.tmp-kwok');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await runLong('go', ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], 'kwok: go install', {
    cwd: dir,
    env: goEnv({ GOBIN: tmp }),
  });
  if (!isExecutableFile(join(tmp, 'kwok'))) throw new InstallError('kwok: go install produced no kwok binary');
  renameSync(join(tmp, 'kwok'), join(binDir, 'kwok'));
  rmSync(tmp, { recursive: true, force: true });
  checkVersion('kwok', ['--version'], new RegExp(KWOK_VERSION.replace(/^v/, '').replace(/\./g, '\\.')), `kwok ${KWOK_VERSION}`);
  return {};
}

/**
 * kwok's "fast" pod-ready stage makes pods Ready at once. Give it the per-pod delay that kwok's shipped
 * "general" pod-ready stage has (`delay.durationFrom` an annotation), default 0, no jitter.
 */
function addReadyDelay(text) {
  if (/^ {2}delay:/m.test(text)) throw new InstallError('kwok pod-ready stage already has a delay; the stage format changed?');
  const anchor = '\n  next:\n';
  const at = text.indexOf(anchor);
  if (at < 0 || text.indexOf(anchor, at + 1) >= 0)
    throw new InstallError('kwok pod-ready stage: cannot find a single "  next:" under spec');
  const delay = [
    '  # Added by scripts/install-kube.mjs: a per-pod start-up time, as in kwok\'s "general" pod-ready stage.',
    '  delay:',
    '    durationMilliseconds: 0',
    '    durationFrom:',
    '      jq:',
    `        expression: '.metadata.annotations["${POD_READY_DELAY_ANNOTATION}"]'`,
  ].join('\n');
  return `${text.slice(0, at)}\n${delay}${text.slice(at)}`;
}

function installStages(goVersion) {
  const kwok = downloadModule(`sigs.k8s.io/kwok@${KWOK_VERSION}`, goVersion);
  const stagesDir = join(dir, 'stages');
  mkdirSync(stagesDir, { recursive: true });
  for (const [file, inModule] of STAGES) {
    const from = join(kwok.Dir, inModule);
    if (!existsSync(from)) throw new InstallError(`kwok ${KWOK_VERSION} has no ${inModule} (in ${kwok.Dir})`);
    const to = join(stagesDir, file);
    if (file === 'pod-ready.yaml') writeFileSync(to, addReadyDelay(readFileSync(from, 'utf8')));
    else copyFileSync(from, to);
  }
  log(`stages: copied ${STAGES.length} kwok stage files into ${stagesDir}`);
  return { files: STAGES.map(([f]) => f), delayAnnotation: POD_READY_DELAY_ANNOTATION };
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** One installer per cache directory at a time (test runs in parallel may all call it): waits for another. */
async function lock() {
  const file = join(dir, 'install.lock');
  const waitUntil = Date.now() + 40 * 60_000;
  let said = false;
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      const release = () => rmSync(file, { force: true });
      process.on('exit', release);
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw new InstallError(`cannot create ${file}: ${err.message}`);
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) {
      rmSync(file, { force: true }); // stale: its installer is gone
      continue;
    }
    if (Date.now() > waitUntil) throw new InstallError(`another install (pid ${pid}) still holds ${file} after 40 min`);
    if (!said) log(`waiting for another install (pid ${pid}) to finish`);
    said = true;
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

async function main() {
  const { goVersion } = checkGo();
  mkdirSync(binDir, { recursive: true });
  await lock();
  log(`cache directory ${dir} (${goVersion})`);
  const stamp = readStamp();
  const components = [
    {
      name: 'kubernetes',
      record: { version: KUBE_VERSION, staging: STAGING_VERSION, recipe: RECIPE },
      files: KUBE_COMMANDS.map((c) => join(binDir, c)),
      build: () => buildKube(goVersion),
    },
    { name: 'etcd', record: { version: ETCD_VERSION, recipe: RECIPE }, files: [join(binDir, 'etcd')], build: () => buildEtcd() },
    { name: 'kwok', record: { version: KWOK_VERSION, recipe: RECIPE }, files: [join(binDir, 'kwok')], build: () => buildKwok() },
    {
      name: 'stages',
      record: { kwokVersion: KWOK_VERSION, recipe: STAGES_RECIPE },
      files: STAGES.map(([f]) => join(dir, 'stages', f)),
      build: async () => installStages(goVersion),
    },
  ];
  // Cheap ones first, so a failing kubernetes build still leaves the rest usable.
  components.sort((a, b) => (a.name === 'kubernetes') - (b.name === 'kubernetes'));
  let built = 0;
  for (const c of components) {
    const have = stamp.components[c.name];
    const filesOk = c.files.every((f) => (c.name === 'stages' ? existsSync(f) : isExecutableFile(f)));
    if (filesOk && sameRecord(have, c.record)) {
      log(`${c.name}: ${c.record.version ?? c.record.kwokVersion} already built, skipping`);
      continue;
    }
    const t0 = Date.now();
    log(`${c.name}: building ${c.record.version ?? c.record.kwokVersion}`);
    const details = await c.build();
    // goVersion is recorded, not matched: a Go patch upgrade does not force a 10-minute rebuild.
    stamp.components[c.name] = {
      ...c.record,
      details,
      goVersion,
      builtAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    writeStamp(stamp);
    built += 1;
  }
  stamp.bin = binDir;
  stamp.stages = join(dir, 'stages');
  writeStamp(stamp);
  const du = spawnSync('du', ['-sh', binDir], { encoding: 'utf8' });
  const size = du.status === 0 ? du.stdout.split('\t')[0] : '?';
  log(`${built === 0 ? 'nothing to do' : `built ${built} component(s)`} in ${secs(Date.now() - started)}; binaries ${size} in ${binDir}`);
}

try {
  await main();
} catch (err) {
  console.error(
    `kube:install: FAILED after ${secs(Date.now() - started)}: ${err instanceof InstallError ? err.message : err instanceof Error ? err.stack : String(err)}`,
  );
  process.exit(1);
}
