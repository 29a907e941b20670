// Checks the deployment files that cannot run here (no Docker engine, no cluster), so CI still catches
// what breaks them. Run by test/unit/deploy.test.ts (with --json) and directly:
//
//   node scripts/check-deploy.mjs             every check below; exit 1 if one fails
//   node scripts/check-deploy.mjs --json      the same, as one JSON object on stdout
//   node scripts/check-deploy.mjs --simulate  also runs the Dockerfile's stages without Docker (needs the npm
//                                             registry: a private, empty npm cache): COPY/RUN/WORKDIR/ENV per stage in temp
//                                             dirs, compares the build stage's dist/ with `tsc -p
//                                             tsconfig.build.json` of this checkout, then starts the runtime
//                                             stage (`--help`, then a real start on loopback and a SIGTERM)
//
// Checks: every YAML file under deploy/ and envoy/ parses (all documents); Kubernetes documents under deploy/
// have apiVersion, kind and metadata.name, and kustomization resources exist; the Dockerfile's COPY sources
// exist and are not excluded by .dockerignore, COPY --from names an earlier stage, all stages share one base
// image, the build stage runs package.json's build script (after `npm ci` and COPYs of everything that
// script reads) and the runtime stage copies that script's outDir, gets production-only node_modules, runs
// as a numeric non-root USER, sets NODE_ENV=production, EXPOSEs the gRPC and admin ports, and starts
// `node dist/main.js`; docker-compose build contexts hold a Dockerfile; every WAKER_* name in deploy/, envoy/,
// the Dockerfile and docs/operations.md is a real setting (src/config/settings.ts); the metric names, log
// events and admin routes named in docs/operations.md exist in src/.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const results = [];

function check(name, fn) {
  try {
    const detail = fn();
    results.push({ name, ok: true, detail: detail ?? '' });
  } catch (err) {
    results.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
  }
}

function fail(message) {
  throw new Error(message);
}

const read = (rel) => readFileSync(join(root, rel), 'utf8');
const rel = (abs) => relative(root, abs).split('\\').join('/');

function walk(dir, accept) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, accept));
    else if (accept(entry.name)) out.push(path);
  }
  return out;
}

// ---- facts from the code ---------------------------------------------------------------------------

const settingsSource = read('src/config/settings.ts');
const SETTINGS_ENV = new Map(
  [...settingsSource.matchAll(/env: '(WAKER_[A-Z0-9_]+)'(?:, flag: '[a-z-]+')?(?:, defaultText: '([^']*)')?/g)].map((m) => [m[1], m[2]]),
);
const METRICS = new Set([...read('src/metrics.ts').matchAll(/name: '(faas_waker_[a-z_]+)'/g)].map((m) => m[1]));
/** %RESPONSE_CODE_DETAILS% of faas-waker's answers (errors.ts prefixes them with faas_waker_): not metrics. */
const DETAILS = new Set([...read('src/errors.ts').matchAll(/answer\(\d{3}, '[a-z_]+', '[^']*', '([a-z_]+)'/g)].map((m) => `faas_waker_${m[1]}`));
const EVENTS = new Set(
  walk(join(root, 'src'), (n) => n.endsWith('.ts'))
    .filter((f) => !rel(f).startsWith('src/gen/'))
    .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/event: '([a-z][a-z.]*)'/g)].map((m) => m[1])),
);
const routesSource = read('src/admin/routes.ts');
const ADMIN_PATHS = new Set([
  ...[...routesSource.matchAll(/pathname [!=]== '(\/[a-z]+)'/g)].map((m) => m[1]),
  ...[...routesSource.matchAll(/pathname\.startsWith\('(\/[a-z]+\/)'\)/g)].map((m) => m[1]),
]);
const pkg = JSON.parse(read('package.json'));

// ---- YAML ------------------------------------------------------------------------------------------

const yamlFiles = [...walk(join(root, 'deploy'), (n) => /\.ya?ml$/.test(n)), ...walk(join(root, 'envoy'), (n) => /\.ya?ml$/.test(n))];
const parsed = new Map();
for (const file of yamlFiles) {
  check(`yaml parses: ${rel(file)}`, () => {
    const text = readFileSync(file, 'utf8');
    const docs = parseAllDocuments(text, { prettyErrors: true });
    const list = Array.isArray(docs) ? docs : [docs];
    const problems = list.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message.split('\n')[0]);
    if (problems.length > 0) fail(problems.join('; '));
    const values = list.map((d) => d.toJS()).filter((v) => v !== null && v !== undefined);
    parsed.set(file, values);
    return `${values.length} document(s)`;
  });
}

for (const [file, docs] of parsed) {
  if (!rel(file).startsWith('deploy/')) continue;
  check(`kubernetes objects are complete: ${rel(file)}`, () => {
    docs.forEach((doc, i) => {
      const where = `document ${i + 1}`;
      if (typeof doc !== 'object' || Array.isArray(doc)) fail(`${where}: not a mapping`);
      if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') fail(`${where}: apiVersion and kind are required`);
      if (doc.kind === 'Kustomization') {
        for (const resource of doc.resources ?? []) {
          if (!existsSync(join(dirname(file), resource))) fail(`resource ${resource} does not exist`);
        }
      } else if (typeof doc.metadata?.name !== 'string') fail(`${where} (${doc.kind}): metadata.name is required`);
    });
    return docs.map((d) => d.kind).join(', ');
  });
}

// ---- Dockerfile ------------------------------------------------------------------------------------

/** Instructions with continuation lines joined and comments dropped; FROM starts a stage. */
function parseDockerfile(text) {
  const lines = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  if (pending !== '') lines.push(pending);

  const globalArgs = {};
  const stages = [];
  for (const line of lines.filter((l) => l !== '')) {
    const [, word, rest] = /^(\S+)\s*(.*)$/.exec(line);
    const instr = { op: word.toUpperCase(), args: rest.trim() };
    if (instr.op === 'ARG' && stages.length === 0) {
      const [name, value] = instr.args.split('=');
      globalArgs[name] = value;
      continue;
    }
    if (instr.op === 'FROM') {
      const words = instr.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = words[0].replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n) => globalArgs[n] ?? '');
      const asIndex = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ index: stages.length, image, name: asIndex >= 0 ? words[asIndex + 1] : undefined, instructions: [] });
      continue;
    }
    if (stages.length === 0) fail(`${instr.op} before the first FROM`);
    stages.at(-1).instructions.push(instr);
  }
  return stages;
}

/** `["a","b"]` or shell words. */
function words(argText) {
  const t = argText.trim();
  if (t.startsWith('[')) return JSON.parse(t);
  return t.split(/\s+/).filter((w) => w !== '');
}

function copyParts(instr) {
  const all = words(instr.args);
  const flags = {};
  while (all.length > 0 && all[0].startsWith('--')) {
    const [k, v] = all.shift().slice(2).split('=');
    flags[k] = v ?? true;
  }
  return { flags, sources: all.slice(0, -1), dest: all.at(-1) };
}

function envOf(instr) {
  const out = {};
  const t = instr.args;
  if (!t.includes('=')) {
    const [k, ...v] = t.split(/\s+/);
    out[k] = v.join(' ');
    return out;
  }
  for (const m of t.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) out[m[1]] = m[3] ?? m[2];
  return out;
}

/** .dockerignore semantics: last matching rule wins, `!` re-includes, a match on a parent excludes its contents. */
function dockerignore() {
  const path = join(root, '.dockerignore');
  if (!existsSync(path)) return () => false;
  const rules = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      return { negate, re: globToRegex(pattern) };
    });
  return (file) => {
    const parts = file.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    return excluded;
  };
}

function globToRegex(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** tsconfig JSON with comments and trailing commas tolerated; follows `extends` (relative paths only). */
function readTsconfig(relPath, chain = []) {
  const text = read(relPath).replace(/\/\*[\s\S]*?\*\/|(^|[^:])\/\/.*$/gm, '$1').replace(/,(\s*[}\]])/g, '$1');
  const json = JSON.parse(text);
  chain.push(relPath);
  const base = json.extends ? readTsconfig(posix.join(posix.dirname(relPath), json.extends), chain).config : {};
  return { config: { ...base, ...json, compilerOptions: { ...base.compilerOptions, ...json.compilerOptions } }, chain };
}

const stageRef = (stages, name) => stages.find((s) => s.name === name || String(s.index) === name);

let stages = [];
let buildStage;
let runtimeStage;
let buildTsconfig;
check('Dockerfile parses into stages', () => {
  if (!existsSync(join(root, 'Dockerfile'))) fail('no Dockerfile at the repository root');
  stages = parseDockerfile(read('Dockerfile'));
  if (stages.length < 2) fail(`expected a multi-stage build, found ${stages.length} stage(s)`);
  runtimeStage = stages.at(-1);
  return stages.map((s) => `${s.name ?? s.index} (${s.image})`).join(', ');
});

check('Dockerfile: every stage uses the same base image', () => {
  const images = new Set(stages.map((s) => s.image));
  if (images.size !== 1) fail(`stages use different images: ${[...images].join(', ')} (dist/ and node_modules must match the runtime Node)`);
  if (!/^node:20[.-]/.test([...images][0])) fail(`base image ${[...images][0]} is not Node 20 (package.json engines, tests run on Node 20)`);
  return [...images][0];
});

check('Dockerfile: COPY sources exist and are in the build context', () => {
  const ignored = dockerignore();
  const seen = [];
  for (const stage of stages) {
    const before = stages.slice(0, stage.index);
    for (const instr of stage.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      const { flags, sources } = copyParts(instr);
      if (flags.from !== undefined) {
        if (stageRef(before, flags.from) === undefined) fail(`COPY --from=${flags.from}: no earlier stage of that name`);
        continue;
      }
      for (const src of sources) {
        if (/[*?[]/.test(src)) fail(`COPY ${src}: wildcards are not checked, list files explicitly`);
        const clean = posix.normalize(src).replace(/^\.?\/+/, '').replace(/\/+$/, '');
        if (!existsSync(join(root, clean))) fail(`COPY ${src}: not in the repository`);
        if (clean === '.' || clean === '') fail('COPY . copies the whole context: list what the image needs');
        if (ignored(clean)) fail(`COPY ${src}: excluded by .dockerignore`);
        if (statSync(join(root, clean)).isDirectory()) {
          const dropped = walk(join(root, clean), () => true).map(rel).filter(ignored);
          if (dropped.length > 0) fail(`COPY ${src}: .dockerignore drops ${dropped.length} file(s) from it, e.g. ${dropped.slice(0, 3).join(', ')}`);
        }
        seen.push(clean);
      }
    }
  }
  return seen.join(', ');
});

check('Dockerfile: the build stage runs `npm run build` with what it reads', () => {
  const buildScript = pkg.scripts?.build ?? fail('package.json has no scripts.build');
  const runs = (stage, re) => stage.instructions.findIndex((i) => i.op === 'RUN' && re.test(i.args));
  const escaped = buildScript.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  buildStage = stages.find((s) => runs(s, new RegExp(`(^|&&|;|\\s)npm run build(\\s|$)|${escaped}`)) >= 0);
  if (buildStage === undefined) fail(`no stage runs \`npm run build\` (package.json: ${buildScript})`);
  const buildAt = runs(buildStage, new RegExp(`npm run build|${escaped}`));
  const ciAt = runs(buildStage, /\bnpm ci\b/);
  if (ciAt < 0 || ciAt > buildAt) fail('the build stage must run `npm ci` (lockfile-exact) before building');
  if (/--omit=dev|--production/.test(buildStage.instructions[ciAt].args)) fail('the build stage needs devDependencies (typescript): no --omit=dev there');

  const project = /(?:-p|--project)\s+(\S+)/.exec(buildScript)?.[1] ?? fail(`cannot find -p <tsconfig> in "${buildScript}"`);
  buildTsconfig = readTsconfig(project);
  const copied = buildStage.instructions
    .slice(0, buildAt)
    .filter((i) => i.op === 'COPY' && copyParts(i).flags.from === undefined)
    .flatMap((i) => copyParts(i).sources.map((s) => posix.normalize(s).replace(/^\.?\/+/, '').replace(/\/+$/, '')));
  const needed = ['package.json', 'package-lock.json', ...buildTsconfig.chain, ...(buildTsconfig.config.include ?? ['src'])];
  const missing = needed.filter((n) => !copied.some((c) => n === c || n.startsWith(`${c}/`)));
  if (missing.length > 0) fail(`the build stage does not COPY ${missing.join(', ')} before building`);
  return `stage ${buildStage.name ?? buildStage.index}: ${buildScript} (${buildTsconfig.chain.join(' -> ')}, include ${needed.slice(2 + buildTsconfig.chain.length).join(', ')})`;
});

/** The stage's WORKDIR at a given instruction index, as an absolute POSIX path. */
function workdirAt(stage, uptoIndex) {
  let wd = '/';
  stage.instructions.slice(0, uptoIndex).forEach((i) => {
    if (i.op === 'WORKDIR') wd = posix.resolve(wd, i.args);
  });
  return wd;
}

check('Dockerfile: the runtime stage copies the built outDir and production-only node_modules', () => {
  if (buildStage === undefined || buildTsconfig === undefined) fail('no build stage (see above)');
  if (runtimeStage === buildStage) fail('the runtime stage is the build stage: it would ship devDependencies and sources');
  const outDir = buildTsconfig.config.compilerOptions?.outDir ?? fail('tsconfig has no outDir');
  const buildRun = buildStage.instructions.findIndex((i) => i.op === 'RUN' && /npm run build/.test(i.args));
  const builtAt = posix.resolve(workdirAt(buildStage, buildRun), outDir);
  const copies = runtimeStage.instructions.map((instr, idx) => ({ instr, idx })).filter(({ instr }) => instr.op === 'COPY');
  const dist = copies.find(({ instr }) => {
    const { flags, sources } = copyParts(instr);
    // COPY --from sources are relative to the source stage's root, not to its WORKDIR.
    return stageRef(stages, String(flags.from)) === buildStage && sources.some((s) => posix.resolve('/', s) === builtAt);
  });
  if (dist === undefined) fail(`the runtime stage does not COPY --from=${buildStage.name ?? buildStage.index} ${builtAt}`);
  const distDest = posix.resolve(workdirAt(runtimeStage, dist.idx), copyParts(dist.instr).dest);
  const fromBuild = copies.filter(({ instr }) => stageRef(stages, String(copyParts(instr).flags.from)) === buildStage);
  if (fromBuild.length > 1) fail('the runtime stage copies more than the outDir from the build stage (devDependencies or sources?)');

  const prodInstall = /\bnpm ci\b.*--omit=dev/;
  const modules = copies.find(({ instr }) => copyParts(instr).sources.some((s) => /node_modules\/?$/.test(s)));
  if (modules !== undefined) {
    const from = stageRef(stages, String(copyParts(modules.instr).flags.from));
    if (from === undefined || !from.instructions.some((i) => i.op === 'RUN' && prodInstall.test(i.args))) fail('node_modules in the runtime stage do not come from `npm ci --omit=dev`');
  } else if (!runtimeStage.instructions.some((i) => i.op === 'RUN' && prodInstall.test(i.args))) fail('the runtime stage has no production node_modules (`npm ci --omit=dev`)');
  return `${builtAt} -> ${distDest}`;
});

check('Dockerfile: the runtime starts `node dist/main.js` as a non-root user', () => {
  const last = (op) => runtimeStage.instructions.filter((i) => i.op === op).at(-1);
  const entry = last('ENTRYPOINT');
  const cmd = last('CMD');
  if (entry !== undefined && !entry.args.trim().startsWith('[')) fail('ENTRYPOINT must use the exec form (JSON array) so node is PID 1 and gets SIGTERM');
  const argv = [...(entry ? words(entry.args) : []), ...(cmd ? words(cmd.args) : [])];
  const start = pkg.scripts?.start ?? fail('package.json has no scripts.start');
  if (argv.join(' ') !== 'node dist/main.js') fail(`starts ${JSON.stringify(argv)}, expected ["node","dist/main.js"]`);
  if (start !== 'node dist/main.js' || pkg.main !== 'dist/main.js') fail(`package.json start/main (${start}, ${pkg.main}) disagree with the image`);
  if (!existsSync(join(root, 'src', 'main.ts'))) fail('src/main.ts (-> dist/main.js) does not exist');
  const wd = workdirAt(runtimeStage, runtimeStage.instructions.length);
  const user = last('USER')?.args.trim() ?? fail('no USER: the image would run as root');
  const uid = user.split(':')[0];
  if (!/^\d+$/.test(uid) || uid === '0') fail(`USER ${user}: use a numeric non-zero uid so Kubernetes runAsNonRoot can verify it`);
  return `${JSON.stringify(argv)} in ${wd} as ${user}`;
});

check('Dockerfile: runtime ENV and EXPOSE match the service', () => {
  const env = Object.assign({}, ...runtimeStage.instructions.filter((i) => i.op === 'ENV').map(envOf));
  if (env.NODE_ENV !== 'production') fail('ENV NODE_ENV=production is missing');
  const exposed = new Set(runtimeStage.instructions.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => p.split('/')[0])));
  const ports = ['WAKER_GRPC_ADDRESS', 'WAKER_ADMIN_ADDRESS'].map((name) => {
    const address = env[name] ?? SETTINGS_ENV.get(name) ?? fail(`${name}: no ENV and no default`);
    const port = address.slice(address.lastIndexOf(':') + 1);
    if (!exposed.has(port)) fail(`${name}=${address}: port ${port} is not EXPOSEd`);
    if (env[name] !== undefined && !env[name].startsWith('0.0.0.0:') && !env[name].startsWith('[::]:')) fail(`${name}=${env[name]}: must listen on all interfaces in a container`);
    return `${name.replace('WAKER_', '').toLowerCase()} ${port}`;
  });
  return ports.join(', ');
});

check('docker-compose build contexts hold the Dockerfile they name', () => {
  const found = [];
  for (const [file, docs] of parsed) {
    for (const doc of docs) {
      for (const [name, service] of Object.entries(doc?.services ?? {})) {
        if (service?.build === undefined) continue;
        const build = typeof service.build === 'string' ? { context: service.build } : service.build;
        const dockerfile = join(dirname(file), build.context ?? '.', build.dockerfile ?? 'Dockerfile');
        if (!existsSync(dockerfile)) fail(`${rel(file)}: service ${name} builds ${rel(dockerfile)}, which does not exist`);
        found.push(`${name} -> ${rel(dockerfile)}`);
      }
    }
  }
  return found.join(', ') || 'no build sections';
});

// ---- names shared with the code ---------------------------------------------------------------------

check('WAKER_* names in deploy/, envoy/, Dockerfile and docs are real settings', () => {
  const files = [...yamlFiles, join(root, 'Dockerfile'), join(root, 'docs', 'operations.md')].filter((f) => existsSync(f));
  const unknown = [];
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bWAKER_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!SETTINGS_ENV.has(m[0])) unknown.push(`${rel(file)}: ${m[0]}`);
    }
  }
  if (unknown.length > 0) fail(`not in src/config/settings.ts: ${[...new Set(unknown)].join(', ')}`);
  return `${SETTINGS_ENV.size} settings known`;
});

check('docs/operations.md names only metrics, events and admin routes that exist', () => {
  const docPath = join(root, 'docs', 'operations.md');
  if (!existsSync(docPath)) fail('docs/operations.md is missing');
  const doc = readFileSync(docPath, 'utf8');
  const problems = [];
  const mentioned = new Set([...doc.matchAll(/\bfaas_waker_[a-z_]*[a-z]\b/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
  for (const name of mentioned) if (!METRICS.has(name) && !DETAILS.has(name)) problems.push(`unknown metric or response detail ${name}`);
  for (const name of METRICS) if (!mentioned.has(name)) problems.push(`metric ${name} is not documented`);
  const events = new Set([...doc.matchAll(/`((?:wake|request|refresh|shutdown)\.[a-z]+)`/g)].map((m) => m[1]));
  for (const e of events) if (!EVENTS.has(e)) problems.push(`unknown log event ${e}`);
  for (const e of EVENTS) if (!doc.includes(`\`${e}\``)) problems.push(`log event ${e} is not documented`);
  for (const m of doc.matchAll(/\b(?:GET|POST) :?\d*(\/[a-z]+\/?)/g)) {
    const path = m[1];
    if (!ADMIN_PATHS.has(path) && !ADMIN_PATHS.has(`${path.replace(/\/$/, '')}/`)) problems.push(`unknown admin route ${path}`);
  }
  for (const p of ADMIN_PATHS) if (!doc.includes(p)) problems.push(`admin route ${p} is not documented`);
  if (problems.length > 0) fail(problems.join('; '));
  return `${METRICS.size} metrics, ${EVENTS.size} events, ${ADMIN_PATHS.size} admin routes`;
});

// ---- optional: run the Dockerfile without Docker ---------------------------------------------------

async function simulate() {
  const work = mkdtempSync(join(tmpdir(), 'faas-waker-docker-'));
  const ignored = dockerignore();
  const rootOf = new Map();
  try {
    for (const stage of stages) {
      const stageRoot = join(work, `stage-${stage.name ?? stage.index}`);
      rootOf.set(stage, stageRoot);
      let wd = '/';
      // A private npm cache, like a fresh image: RUN lines (e.g. `npm cache clean`) must not touch the host's.
      const env = { ...process.env, npm_config_cache: join(work, 'npm-cache'), npm_config_update_notifier: 'false' };
      const at = (p) => join(stageRoot, posix.resolve(wd, p));
      for (const instr of stage.instructions) {
        if (instr.op === 'WORKDIR') {
          wd = posix.resolve(wd, instr.args);
          mkdirSync(at('.'), { recursive: true });
        } else if (instr.op === 'ENV') Object.assign(env, envOf(instr));
        else if (instr.op === 'COPY') {
          const { flags, sources, dest } = copyParts(instr);
          const fromRoot = flags.from === undefined ? undefined : rootOf.get(stageRef(stages, flags.from));
          for (const src of sources) {
            const from = fromRoot === undefined ? join(root, src) : join(fromRoot, posix.resolve('/', src));
            const into = dest.endsWith('/') || sources.length > 1 ? join(at(dest), posix.basename(src)) : at(dest);
            mkdirSync(dirname(into), { recursive: true });
            cpSync(from, into, { recursive: true, filter: (p) => fromRoot !== undefined || !ignored(rel(p)) });
          }
        } else if (instr.op === 'RUN') {
          console.log(`[simulate] ${stage.name ?? stage.index}: RUN ${instr.args}`);
          const run = spawnSync('sh', ['-c', instr.args], { cwd: at('.'), env, stdio: 'inherit' });
          if (run.status !== 0) fail(`RUN ${instr.args} failed in stage ${stage.name ?? stage.index}`);
        }
      }
      stage.simulatedWorkdir = at('.');
      stage.simulatedEnv = env;
    }

    // The image's dist/ must be byte-identical to what `npm run build` makes in this checkout. Built in a
    // copy (same layout, so source maps get the same relative paths) to leave the checkout's dist/ alone.
    const refRoot = join(work, 'reference');
    for (const f of [...buildTsconfig.chain, ...(buildTsconfig.config.include ?? ['src'])]) cpSync(join(root, f), join(refRoot, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(refRoot, 'node_modules'), 'dir');
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', buildTsconfig.chain[0]], { cwd: refRoot, stdio: 'inherit' });
    if (tsc.status !== 0) fail('tsc -p tsconfig.build.json failed on this checkout');
    const reference = join(refRoot, buildTsconfig.config.compilerOptions.outDir);
    const imageDist = join(buildStage.simulatedWorkdir, buildTsconfig.config.compilerOptions.outDir);
    const listing = (dir) => walk(dir, () => true).map((f) => relative(dir, f)).sort();
    const a = listing(reference);
    const b = listing(imageDist);
    const differ = [...new Set([...a, ...b])].filter((f) => !existsSync(join(reference, f)) || !existsSync(join(imageDist, f)) || !readFileSync(join(reference, f)).equals(readFileSync(join(imageDist, f))));
    if (differ.length > 0) fail(`the image's dist/ differs from this checkout's build: ${differ.slice(0, 10).join(', ')}`);
    console.log(`[simulate] build stage dist/ is identical to this checkout's build (${a.length} files, ${Math.round(dirSize(imageDist) / 1024)} KiB)`);

    const cwd = runtimeStage.simulatedWorkdir;
    const runtimeEnv = { PATH: process.env.PATH, ...Object.fromEntries(Object.entries(runtimeStage.simulatedEnv).filter(([k]) => k === 'NODE_ENV' || k.startsWith('WAKER_'))) };
    console.log(`[simulate] runtime: ${Math.round(dirSize(join(cwd, 'node_modules')) / 1024 / 1024)} MiB node_modules, no devDependencies: ${!existsSync(join(cwd, 'node_modules', 'typescript'))}`);
    const help = spawnSync('node', ['dist/main.js', '--help'], { cwd, env: runtimeEnv, encoding: 'utf8' });
    if (help.status !== 0 || !help.stdout.includes('Usage: faas-waker')) fail(`node dist/main.js --help failed: ${help.stderr}`);
    console.log('[simulate] runtime: node dist/main.js --help exits 0');
    await startAndStop(cwd, {
      ...runtimeEnv,
      WAKER_PROVIDER_URL: 'http://127.0.0.1:1',
      WAKER_GRPC_ADDRESS: '127.0.0.1:0',
      WAKER_ADMIN_ADDRESS: '127.0.0.1:0',
      WAKER_DRAIN_DELAY: '100ms',
      WAKER_SHUTDOWN_GRACE: '100ms',
    });
    return 'build stage dist/ identical to the checkout build; runtime starts, serves /healthz and /readyz, exits 0 on SIGTERM';
  } finally {
    if (!args.has('--keep')) rmSync(work, { recursive: true, force: true });
    else console.log(`[simulate] kept ${work}`);
  }
}

function dirSize(dir) {
  return walk(dir, () => true).reduce((n, f) => n + statSync(f).size, 0);
}

function startAndStop(cwd, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('node', ['dist/main.js'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let probed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runtime did not get ready and stop in time:\n${out}${err}`));
    }, 15_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const ready = /"event":"ready","grpcPort":(\d+),"adminPort":(\d+)/.exec(out);
      if (ready === null || probed) return;
      probed = true;
      const base = `http://127.0.0.1:${ready[2]}`;
      Promise.all(['/healthz', '/readyz'].map((p) => globalThis.fetch(base + p).then((r) => `${p} ${r.status}`)))
        .then((answers) => {
          console.log(`[simulate] runtime ready on grpc ${ready[1]}, admin ${ready[2]}: ${answers.join(', ')}`);
          child.kill('SIGTERM');
        })
        .catch((e) => {
          child.kill('SIGKILL');
          reject(e);
        });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        console.log('[simulate] runtime: SIGTERM -> exit 0');
        resolvePromise();
      } else reject(new Error(`runtime exited with ${code ?? signal}:\n${out}${err}`));
    });
  });
}

if (args.has('--simulate')) {
  try {
    results.push({ name: 'Dockerfile simulated without Docker', ok: true, detail: await simulate() });
  } catch (err) {
    results.push({ name: 'Dockerfile simulated without Docker', ok: false, detail: err instanceof Error ? err.message : String(err) });
  }
}

// ---- report ----------------------------------------------------------------------------------------

const ok = results.every((r) => r.ok);
if (args.has('--json')) {
  process.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
} else {
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
  console.log(ok ? `\ncheck-deploy: all ${results.length} checks passed` : `\ncheck-deploy: ${results.filter((r) => !r.ok).length} of ${results.length} checks failed`);
}
process.exitCode = ok ? 0 : 1;
